//! `cloakroom`: parse settings, start tracing, serve until stopped.

use cloakroom::{config::Settings, startup::Application, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    telemetry::init(&settings.log_filter);
    tracing::info!(
        data_dir = %settings.data_dir.display(),
        public_origin = %settings.public_origin,
        "starting cloakroom"
    );
    let app = Application::build(settings).await?;
    tracing::info!(
        "listening on http://{}:{}",
        app.state().settings.host,
        app.port()
    );
    app.run_until_stopped().await?;
    Ok(())
}
