//! Runs management commands inside a serving process, for the scheduler.

use efir_scheduler::CommandRunner;
use efir_store::Actor;

use crate::cli::parse_manage;
use crate::context::Ctx;
use crate::manage;

/// Parses a scheduled command line exactly as `efir manage` would and runs
/// it with this process's store and cache.
pub struct InProcess {
    ctx: Ctx,
}

impl InProcess {
    /// A runner over `ctx` (which should not be interactive).
    pub fn new(ctx: Ctx) -> InProcess {
        InProcess { ctx }
    }
}

#[async_trait::async_trait]
impl CommandRunner for InProcess {
    async fn run(&self, command: &str, args: &[String]) -> Result<String, String> {
        let parsed = parse_manage(command, args)?;
        if !parsed.command.schedulable() {
            return Err(format!("`{}` cannot be scheduled", parsed.command.name()));
        }
        let actor = Actor::Scheduler(parsed.command.name().to_string());
        match manage::run(&self.ctx, parsed.command, actor).await {
            Ok(r) => match r.failed {
                Some(why) => Err(format!("{why}\n{}", r.text)),
                None => Ok(r.text),
            },
            Err(e) => Err(format!("{e:#}")),
        }
    }
}
