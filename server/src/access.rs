//! Who may do what. Roles are ordered `viewer < reviewer < lead` (design §6).
//!
//! Every state-changing feature function takes the [`Actor`] doing it and checks its role
//! itself, whatever door the request came through (REST, server function, form, CLI, hook);
//! the HTTP edge checks the same role again with its extractors, so a handler's signature says
//! who may call it. A leaf: features and the edge use it; it uses nothing of Chartgate's but the
//! error type.

use app::types::{CurrentUser, Role};

use crate::error::{Error, Result};

/// A person with an account.
#[derive(Clone, Debug, PartialEq)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub role: Role,
}

impl User {
    /// 403 unless the user has at least `role`.
    pub fn require(&self, role: Role) -> Result<()> {
        require(&self.email, self.role, role)
    }
}

impl From<&CurrentUser> for User {
    fn from(u: &CurrentUser) -> Self {
        User { id: u.id, email: u.email.clone(), role: u.role }
    }
}

impl From<User> for CurrentUser {
    fn from(u: User) -> Self {
        CurrentUser { id: u.id, email: u.email, role: u.role }
    }
}

/// Whoever does something: a person, or Chartgate acting for someone who holds the machine.
/// `name` is what the audit trail records.
#[derive(Clone, Debug, PartialEq)]
pub struct Actor {
    pub name: String,
    pub role: Role,
}

impl Actor {
    /// The operator at the command line: whoever runs `chartgate` holds its database and its
    /// configuration, so they act as a lead. `name` is what the audit trail records (`cli`).
    pub fn operator(name: &str) -> Actor {
        Actor { name: name.to_string(), role: Role::Lead }
    }

    /// Chartgate itself (the archive sweep, background rescans).
    pub fn system() -> Actor {
        Actor::operator(SYSTEM)
    }

    /// A signed GitHub delivery: the webhook's secret proves it; it may start syncs.
    pub fn github(login: Option<&str>) -> Actor {
        let name = match login.filter(|l| !l.is_empty()) {
            Some(login) => format!("github:{login}"),
            None => "github".to_string(),
        };
        Actor { name, role: Role::Lead }
    }

    /// 403 unless the actor has at least `role`.
    pub fn require(&self, role: Role) -> Result<()> {
        require(&self.name, self.role, role)
    }
}

impl From<&User> for Actor {
    fn from(u: &User) -> Self {
        Actor { name: u.email.clone(), role: u.role }
    }
}

/// The actor name of what Chartgate does on its own.
pub const SYSTEM: &str = "chartgate";

fn require(who: &str, has: Role, needs: Role) -> Result<()> {
    if has >= needs {
        Ok(())
    } else {
        Err(Error::Forbidden(format!("this needs the {} role; {who} is a {}", needs.as_str(), has.as_str())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered() {
        let u = User { id: 1, email: "r@x.org".into(), role: Role::Reviewer };
        assert!(u.require(Role::Viewer).is_ok());
        assert!(u.require(Role::Reviewer).is_ok());
        assert!(matches!(u.require(Role::Lead), Err(Error::Forbidden(_))));
        let actor = Actor::from(&u);
        assert_eq!(actor.name, "r@x.org");
        assert!(matches!(actor.require(Role::Lead), Err(Error::Forbidden(_))));
    }

    #[test]
    fn machines_act_as_leads_under_their_own_names() {
        assert!(Actor::operator("cli").require(Role::Lead).is_ok());
        assert_eq!(Actor::github(Some("octocat")).name, "github:octocat");
        assert_eq!(Actor::github(None).name, "github");
        assert_eq!(Actor::system().name, "chartgate");
    }
}
