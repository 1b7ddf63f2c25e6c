//! `solo completions <shell>` and `solo man`: generated from the same grammar as the parser, so
//! they never drift from it.

use crate::cli::{Cli, CompletionsArgs, ManArgs};
use crate::render::{Failure, Out};
use clap::CommandFactory;

/// Prints the completion script of `args.shell`.
pub fn completions(args: &CompletionsArgs, out: &Out) -> Result<(), Failure> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "solo", &mut script);
    out.result(&String::from_utf8_lossy(&script));
    Ok(())
}

/// Prints solo.1, or writes every page into `args.dir`.
pub fn man(args: &ManArgs, out: &Out) -> Result<(), Failure> {
    let cannot = |e: std::io::Error| {
        Failure::new(
            format!("cannot write the manual page: {e}"),
            "check the directory exists and that you may write there",
        )
    };
    match &args.dir {
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut page)
                .map_err(cannot)?;
            out.result(&String::from_utf8_lossy(&page));
        }
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(cannot)?;
            clap_mangen::generate_to(Cli::command(), dir).map_err(cannot)?;
            out.say(&format!(
                "ok: wrote the manual pages into {}",
                dir.display()
            ));
        }
    }
    Ok(())
}
