//! One module per command.

pub(crate) mod bots;
pub(crate) mod deploy;
pub(crate) mod drill;
pub(crate) mod emergency;
pub(crate) mod leader;
pub(crate) mod paused;
pub(crate) mod prices;
pub(crate) mod set_updater;
pub(crate) mod status;

use crate::{Cli, CliError, Command, LeaderCommand, Report};

/// Runs the parsed command.
pub(crate) async fn dispatch(cli: Cli) -> Result<Report, CliError> {
    match cli.command {
        Command::Status(bots) => status::run(&bots).await,
        Command::Prices => prices::run().await,
        Command::EmergencyUpdate(args) => emergency::run(&args).await,
        Command::SetUpdater(args) => set_updater::run(&args).await,
        Command::Leader(LeaderCommand::Status(bots)) => leader::status(&bots).await,
        Command::Leader(LeaderCommand::Resign(args)) => leader::resign(&args).await,
        Command::Drill(args) => drill::run(&args).await,
        Command::DeployOracle(args) => deploy::run(&args).await,
        Command::Paused => paused::run(paused::Asked::Paused).await,
        Command::Pause => paused::run(paused::Asked::Pause).await,
        Command::Unpause => paused::run(paused::Asked::Unpause).await,
    }
}
