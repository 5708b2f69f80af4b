//! `samkit users`: the accounts of a team project (add, list, set-role, disable, enable,
//! reset-password). A project without users is one person's: `samkit serve` prints an
//! address with a start-up token instead of asking for a log-in.

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use samkit_store::{Role, Store, UserPatch};

#[derive(clap::Args, Debug)]
pub struct UsersArgs {
    #[command(subcommand)]
    pub action: UsersAction,
    /// Project folder (as given to `samkit serve`)
    #[arg(
        long,
        short = 'p',
        value_name = "DIR",
        default_value = ".",
        global = true
    )]
    pub project: PathBuf,
    /// Database: a path, sqlite:///path or postgres://user:password@host/db (a team server) [default: PROJECT/.samkit/project.db]
    #[arg(long, value_name = "URL", global = true)]
    pub db: Option<String>,
}

#[derive(clap::Subcommand, Debug)]
pub enum UsersAction {
    /// Add a user (the first one must be an admin); the password is asked for
    Add {
        name: String,
        /// admin (users, settings, categories, guidelines), reviewer (review, approve),
        /// annotator (annotates; cannot approve)
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Read the password from the first line of this file (`-`: standard input)
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
    },
    /// List the users, their roles and whether they are disabled
    List,
    /// Change a user's role (takes effect on their next request)
    SetRole {
        name: String,
        #[arg(value_parser = parse_role)]
        role: Role,
    },
    /// Disable a user: their sessions end and they cannot sign in
    Disable { name: String },
    /// Enable a disabled user again
    Enable { name: String },
    /// Give a user a new password (their sessions end)
    ResetPassword {
        name: String,
        /// Read the password from the first line of this file (`-`: standard input)
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(&s.to_ascii_lowercase())
        .ok_or_else(|| format!("{s:?} is not a role: use admin, reviewer or annotator"))
}

/// Who the history names for changes made here: the operating-system account.
fn cli_author() -> String {
    let who = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    format!("{who} (samkit users)")
}

fn read_password(file: Option<&Path>) -> anyhow::Result<String> {
    if let Some(f) = file {
        let line = if f == Path::new("-") {
            let mut l = String::new();
            std::io::stdin().lock().read_line(&mut l)?;
            l
        } else {
            let text = std::fs::read_to_string(f)
                .with_context(|| format!("cannot read the password file {}", f.display()))?;
            text.lines().next().unwrap_or("").to_string()
        };
        return Ok(line.trim_end_matches(['\r', '\n']).to_string());
    }
    if !std::io::stdin().is_terminal() {
        bail!("no terminal to ask for the password: give it with --password-file FILE (or - for standard input)");
    }
    let first = rpassword::prompt_password("password: ")?;
    samkit_store::check_new_password(&first)?;
    let again = rpassword::prompt_password("again: ")?;
    if first != again {
        bail!("the two passwords differ; nothing was changed");
    }
    Ok(first)
}

async fn find(store: &Store, name: &str) -> anyhow::Result<samkit_store::User> {
    store
        .user_by_name(name)
        .await?
        .with_context(|| format!("there is no user {name:?}; see `samkit users list`"))
}

pub fn run(args: UsersArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        let (store, pid) = samkit_server::open_project_store(&args.project, args.db.as_deref())
            .await
            .with_context(|| format!("cannot open the project {}", args.project.display()))?;
        let author = cli_author();
        match args.action {
            UsersAction::Add {
                name,
                role,
                password_file,
            } => {
                let password = read_password(password_file.as_deref())?;
                let u = store
                    .create_user(pid, &name, role, &password, &author)
                    .await?;
                println!("added {} ({})", u.name, u.role);
            }
            UsersAction::List => {
                let users = store.users().await?;
                if users.is_empty() {
                    println!("no users: `samkit serve` gives out a start-up token (one person)");
                }
                for u in users {
                    let state = if u.disabled { "  disabled" } else { "" };
                    println!("{:<24} {:<10}{state}", u.name, u.role.as_str());
                }
            }
            UsersAction::SetRole { name, role } => {
                let u = find(&store, &name).await?;
                let patch = UserPatch {
                    role: Some(role),
                    disabled: None,
                };
                let u = store
                    .update_user(pid, u.id, u.version, &patch, &author)
                    .await?;
                println!("{} is now {}", u.name, u.role);
            }
            UsersAction::Disable { name } => {
                set_disabled(&store, pid, &name, true, &author).await?
            }
            UsersAction::Enable { name } => {
                set_disabled(&store, pid, &name, false, &author).await?
            }
            UsersAction::ResetPassword {
                name,
                password_file,
            } => {
                let u = find(&store, &name).await?;
                let password = read_password(password_file.as_deref())?;
                store.set_password(pid, u.id, &password, &author).await?;
                println!("new password for {}; their sessions have ended", u.name);
            }
        }
        Ok(())
    })
}

async fn set_disabled(
    store: &Store,
    pid: i64,
    name: &str,
    disabled: bool,
    author: &str,
) -> anyhow::Result<()> {
    let u = find(store, name).await?;
    let patch = UserPatch {
        role: None,
        disabled: Some(disabled),
    };
    let u = store
        .update_user(pid, u.id, u.version, &patch, author)
        .await?;
    if u.disabled {
        println!("{} is disabled; their sessions have ended", u.name);
    } else {
        println!("{} can sign in again", u.name);
    }
    Ok(())
}
