//! `onecard serve`, `onecard users …` and `onecard audit verify`: the edges of
//! the caseworker desk on the command line.

use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;

use crate::config::Config;
use crate::domain::ids::RegionScope;
use crate::store::{audit, users, Store};
use crate::web::auth::{self, Role};

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on (port 0: any free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Lifetime of an API token or page session, in seconds.
    #[arg(long, default_value_t = 8 * 3600)]
    pub token_ttl_secs: u64,
    /// Send the session cookie without `Secure` (only behind a TLS proxy on another host).
    #[arg(long)]
    pub insecure_cookie: bool,
}

#[derive(Subcommand, Debug)]
pub enum UsersCommand {
    /// Add a user; a generated password is printed once.
    Add {
        username: String,
        /// caseworker, supervisor, auditor or admin.
        #[arg(long)]
        role: String,
        /// Region prefix the user sees: 4 (city), 6 (district), 9 (street) or 12 (community) digits.
        #[arg(long)]
        scope: String,
    },
    /// The users with their roles and scopes.
    List,
    /// Disable a user; their tokens and sessions are revoked.
    Disable { username: String },
    /// A new generated password, printed once; tokens and sessions are revoked.
    Passwd { username: String },
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Check the access log's SHA-256 chain; names the first broken entry.
    Verify,
}

pub async fn serve(db: &str, config: Config, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let store = Store::connect(db).await?;
    let opts = crate::web::Options {
        listen: args.listen,
        token_ttl: Duration::from_secs(args.token_ttl_secs.max(1)),
        secure_cookie: !args.insecure_cookie,
    };
    crate::web::serve(store, config, opts).await?;
    Ok(ExitCode::SUCCESS)
}

/// Adds a user with a generated password; returns the password.
pub async fn add_user(store: &Store, username: &str, role: &str, scope: &str) -> anyhow::Result<String> {
    let role = Role::parse(role)
        .ok_or_else(|| anyhow::anyhow!("role '{role}' must be caseworker, supervisor, auditor or admin"))?;
    let scope = RegionScope::parse(scope)?;
    if username.is_empty() || username.len() > 64 || username.chars().any(|c| c.is_whitespace() || c.is_control()) {
        anyhow::bail!("user name '{username}' must be 1 to 64 characters without spaces");
    }
    let password = auth::generate_password();
    let hash = auth::hash_password(&password)?;
    users::add(store.pool(), username, &hash, role.as_str(), scope.as_str()).await?;
    Ok(password)
}

pub async fn users_command(db: &str, what: UsersCommand, json: bool) -> anyhow::Result<ExitCode> {
    let store = Store::connect(db).await?;
    match what {
        UsersCommand::Add { username, role, scope } => {
            let password = add_user(&store, &username, &role, &scope).await?;
            if json {
                println!("{}", serde_json::json!({ "username": username, "password": password }));
            } else {
                println!("user {username} added ({role}, scope {scope}); password (shown once): {password}");
            }
        }
        UsersCommand::List => {
            let list = users::list(store.pool()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                for u in list {
                    println!(
                        "{:<20} {:<11} scope {:<12} {}  since {}",
                        u.username,
                        u.role,
                        u.scope,
                        if u.disabled != 0 { "DISABLED" } else { "active  " },
                        u.created_at
                    );
                }
            }
        }
        UsersCommand::Disable { username } => {
            if !users::disable(store.pool(), &username).await? {
                anyhow::bail!("user {username} does not exist");
            }
            println!("user {username} disabled; their tokens and sessions are revoked");
        }
        UsersCommand::Passwd { username } => {
            let password = auth::generate_password();
            if !users::set_password(store.pool(), &username, &auth::hash_password(&password)?).await? {
                anyhow::bail!("user {username} does not exist");
            }
            if json {
                println!("{}", serde_json::json!({ "username": username, "password": password }));
            } else {
                println!("user {username}: new password (shown once): {password}; old tokens and sessions revoked");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn audit_command(db: &str, what: AuditCommand, json: bool) -> anyhow::Result<ExitCode> {
    let AuditCommand::Verify = what;
    let store = Store::connect(db).await?;
    let v = audit::verify(store.pool()).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    }
    match v.first_broken {
        None => {
            if !json {
                println!("access log intact: {} entries, chain verified", v.entries);
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(id) => {
            eprintln!("onecard: access log broken at entry {id}: {}", v.problem.unwrap_or_default());
            Ok(ExitCode::from(1))
        }
    }
}

/// The demo's desk: three users with generated passwords, scoped around the
/// example person (admin: the city; supervisor: the district; caseworker:
/// the person's community), and the command that serves the desk.
pub async fn demo_desk(store: &Store, db_url: &str, example: Option<&str>) -> anyhow::Result<String> {
    let Some(Ok(id)) = example.map(crate::domain::PersonId::parse) else { return Ok(String::new()) };
    let person = id.as_str();
    let Some(p) = crate::store::persons::get(store.pool(), person).await? else { return Ok(String::new()) };
    let region = p.region_code;
    let mut out = String::from("\nThe caseworker desk (web pages and JSON API):\n");
    for (user, role, scope) in [
        ("demo-admin", "admin", &region[..4]),
        ("demo-supervisor", "supervisor", &region[..6]),
        ("demo-caseworker", "caseworker", &region[..]),
    ] {
        let password = add_user(store, user, role, scope).await?;
        out.push_str(&format!("  user {user:<16} password {password}  ({role}, scope {scope})\n"));
    }
    out.push_str(&format!(
        "  run:  cargo run --release -- --db {db_url} serve --listen 127.0.0.1:8080\n  open: http://127.0.0.1:8080/ and log in as demo-caseworker; search {} (community {region})\n",
        crate::domain::ids::mask_person_id(person)
    ));
    Ok(out)
}
