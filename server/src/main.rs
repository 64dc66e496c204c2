//! `cloakroom`: the server and its operator commands.

use std::io::{BufRead, IsTerminal};

use anyhow::Context;
use clap::{Parser, Subcommand};
use cloakroom::{
    auth::password::Hasher,
    config::Settings,
    ops,
    startup::Application,
    store::{Db, Location},
    telemetry,
};

/// Cloakroom: secure browser token handling. Every setting comes from CLOAKROOM_* environment
/// variables (listed below and in docs/deploy.md); the commands act on the database of
/// CLOAKROOM_DATABASE_URL (default: SQLite in CLOAKROOM_DATA_DIR).
#[derive(Parser)]
#[command(name = "cloakroom", version, about, long_about = None, after_help = cloakroom::config::help_text())]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API and the client (the default when no command is given).
    Serve,
    /// Create the database if needed, apply migrations, and exit.
    Migrate,
    /// Access-token signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// User accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Print the settings table (Markdown, as in docs/deploy.md).
    Settings,
    /// Databases.
    #[command(subcommand)]
    Db(DbCommand),
}

#[derive(Subcommand)]
enum DbCommand {
    /// Copy everything (users, sessions, notes, keys, secrets) into an empty database, e.g. from
    /// SQLite to PostgreSQL: switch CLOAKROOM_DATABASE_URL to the target afterwards and nobody is
    /// logged out. Stop the servers first (what they write during the copy is not copied).
    /// Refuses a target that holds data.
    Copy {
        /// sqlite://PATH or postgres://…
        #[arg(long)]
        from: String,
        /// sqlite://PATH or postgres://… (migrated first if new).
        #[arg(long)]
        to: String,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Make a new key the signer. New tokens use it at once (a running server picks it up within
    /// seconds); the old key keeps verifying, and stays in JWKS, until its tokens have expired.
    Rotate,
    /// List keys: which signs, which still verify, which have expired or were revoked.
    List,
    /// Revoke a key that may have leaked: tokens it signed stop verifying at once, everywhere
    /// (running servers within seconds); if it was the signer, a new key takes over. Users
    /// refresh silently and are not logged out.
    Revoke {
        /// Key ids are base64url and may begin with `-`: taken as the id, never as an option.
        #[arg(allow_hyphen_values = true)]
        kid: String,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user. The password is asked for, or read from stdin with --password-stdin.
    Create {
        username: String,
        /// Grant the admin role (only this command can).
        #[arg(long)]
        admin: bool,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a user's password and end all their sessions.
    SetPassword {
        username: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// End every session of a user (their access tokens stop working within seconds).
    RevokeSessions { username: String },
}

fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    let first = rpassword::prompt_password("New password: ")?;
    let again = rpassword::prompt_password("Repeat it: ")?;
    anyhow::ensure!(first == again, "the two passwords differ");
    Ok(first)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Settings) = cli.command {
        // Before reading the environment: the table documents the defaults, whatever is set.
        print!("{}", cloakroom::config::markdown_table());
        return Ok(());
    }
    let settings = Settings::from_env()?;
    telemetry::init(&settings.log_filter, settings.log_json);
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Serve = command {
        tracing::info!(database = %settings.database.describe(), public_origin = %settings.public_origin, "starting cloakroom");
        let app = Application::build(settings).await?;
        tracing::info!(
            "listening on http://{}:{}",
            app.state().settings.host,
            app.port()
        );
        app.run_until_stopped().await?;
        return Ok(());
    }
    if let Command::Db(DbCommand::Copy { from, to }) = &command {
        let (from, to) = (Location::parse(from)?, Location::parse(to)?);
        anyhow::ensure!(from != to, "--from and --to are the same database");
        let source = Db::connect(&from).await.context("opening --from")?;
        let target = Db::connect(&to).await.context("opening --to")?;
        let report = cloakroom::store::copy::copy(&source, &target).await?;
        for (table, n) in report {
            println!("{table:>16}: {n}");
        }
        println!("copied {} to {}", from.describe(), to.describe());
        return Ok(());
    }
    let db = Db::connect(&settings.database)
        .await
        .context("opening the database")?;
    let hasher = Hasher::new(settings.argon2_m_kib)?;
    let now = cloakroom::clock::Clock::system().now();
    match command {
        Command::Serve | Command::Settings | Command::Db(_) => unreachable!("handled above"),
        Command::Migrate => println!("database at {} is up to date", settings.database.describe()),
        Command::Keys(KeysCommand::Rotate) => {
            let key = ops::rotate_keys(&db, now).await?;
            println!(
                "new signing key {}; the previous one verifies until its tokens expire",
                key.kid
            );
        }
        Command::Keys(KeysCommand::Revoke { kid }) => {
            let outcome = ops::revoke_key(&db, &kid, now).await?;
            println!(
                "key {kid} revoked{}",
                if outcome == cloakroom::store::keys::KeyRevocation::Signer {
                    "; a new signing key took over"
                } else {
                    ""
                }
            );
        }
        Command::Keys(KeysCommand::List) => {
            for line in ops::list_keys(&db, settings.access_ttl.as_secs() as i64, now).await? {
                println!("{line}");
            }
        }
        Command::User(UserCommand::Create {
            username,
            admin,
            password_stdin,
        }) => {
            let password = read_password(password_stdin)?;
            let id = ops::create_user(&db, &hasher, &username, &password, admin, now).await?;
            println!(
                "created {username} ({id}){}",
                if admin { " with the admin role" } else { "" }
            );
        }
        Command::User(UserCommand::SetPassword {
            username,
            password_stdin,
        }) => {
            let password = read_password(password_stdin)?;
            let n = ops::set_password(&db, &hasher, &username, &password, now).await?;
            println!("password of {username} changed; {n} session(s) ended");
        }
        Command::User(UserCommand::RevokeSessions { username }) => {
            let n = ops::revoke_sessions(&db, &username, now).await?;
            println!("{n} session(s) of {username} ended");
        }
    }
    db.close().await;
    Ok(())
}
