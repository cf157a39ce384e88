//! Users: the list (a partner admin's: its partner's, as the API scopes them), a new user,
//! disabling or enabling one, and a user's page to change its role or set its password. The
//! store checks who may grant which role (the core's `Role::check_grant`).

use askama::Template;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use didhub_core::access::Role;
use didhub_store::StoreError;
use uuid::Uuid;

use super::inventory::{choices, Choice};
use super::{render, shown, thousands, when, Chrome, Errors, Form, PageResult, Viewer};
use crate::api::accounts::users::user_scope;
use crate::error::ApiError;
use crate::AppState;

pub struct UserView {
    pub href: String,
    pub id: Uuid,
    pub email: String,
    pub role: &'static str,
    pub partner: String,
    pub disabled: bool,
    pub created: String,
}

#[derive(Template)]
#[template(path = "portal/users.html")]
struct UsersPage {
    chrome: Chrome,
    filter: Form,
    rows: Vec<UserView>,
    count: String,
    roles_filter: Vec<Choice>,
    form: Form,
    errors: Errors,
    roles: Vec<Choice>,
    /// Staff choose the partner of a partner user; a partner admin's users are its own.
    partners: Option<Vec<Choice>>,
    done: Option<String>,
}

const FIELDS: &[&str] = &["email", "role", "partner_id", "password"];

async fn users_page(
    s: &AppState,
    v: &Viewer,
    filter: Form,
    form: Form,
    errors: Errors,
    done: Option<String>,
) -> PageResult {
    let acc = s.store.accounts();
    let mut list = acc
        .list_users(user_scope(&v.principal))
        .await
        .map_err(|e| v.fail(e))?;
    let q = filter.value("email").trim().to_lowercase();
    if !q.is_empty() {
        list.retain(|u| u.email.to_lowercase().contains(&q));
    }
    let role = filter.value("role").trim();
    if !role.is_empty() {
        list.retain(|u| u.role.as_str() == role);
    }
    let partners = acc
        .list_partners(v.principal.scope())
        .await
        .map_err(|e| v.fail(e))?;
    let name_of = |id: Option<Uuid>| {
        id.and_then(|id| partners.iter().find(|p| p.id == id))
            .map(|p| shown(&p.name))
            .unwrap_or_default()
    };
    let staff = !v.principal.role.is_partner();
    let role_list = |partner_only: bool| {
        Role::ALL
            .iter()
            .filter(move |r| !partner_only || r.is_partner())
            .map(|r| (r.as_str().to_string(), r.as_str().replace('_', " ")))
            .collect::<Vec<_>>()
    };
    let page = UsersPage {
        chrome: v.chrome("Users", "/users"),
        count: thousands(list.len() as i64),
        rows: list
            .iter()
            .map(|u| UserView {
                href: format!("/users/{}", u.id),
                id: u.id,
                email: shown(&u.email),
                role: u.role.as_str(),
                partner: name_of(u.partner_id),
                disabled: u.disabled,
                created: when(&u.created_at),
            })
            .collect(),
        roles_filter: choices(role_list(false), role, Some("Any role")),
        roles: choices(role_list(!staff), form.value("role"), Some("Choose a role")),
        partners: staff.then(|| {
            choices(
                partners.iter().map(|p| (p.id.to_string(), shown(&p.name))),
                form.value("partner_id"),
                Some("None (staff)"),
            )
        }),
        filter,
        form,
        errors,
        done,
    };
    let status = if page.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(render(status, &page))
}

pub async fn list(State(s): State<AppState>, v: Viewer, uri: Uri) -> PageResult {
    users_page(
        &s,
        &v,
        Form::query(&uri),
        Form::default(),
        Errors::default(),
        None,
    )
    .await
}

fn beside(errors: &mut Errors, e: StoreError) -> Result<(), ApiError> {
    match e {
        StoreError::Invalid { field, message } => {
            let f = if FIELDS.contains(&field.as_str()) {
                field
            } else {
                "email".into()
            };
            errors.add(f, message);
            Ok(())
        }
        StoreError::InvalidFields(list) => {
            for (f, m) in list {
                let f = if FIELDS.contains(&f.as_str()) {
                    f
                } else {
                    "email".into()
                };
                errors.add(f, m);
            }
            Ok(())
        }
        e @ StoreError::Conflict(_) => {
            errors.add("email", e);
            Ok(())
        }
        e => Err(e.into()),
    }
}

pub async fn create(State(s): State<AppState>, v: Viewer, body: axum::body::Bytes) -> PageResult {
    // The new user's fields carry a prefix (the filter above has an e-mail and a role too).
    let form = Form(
        Form::parse(&body)
            .0
            .into_iter()
            .map(|(k, v)| (k.strip_prefix("new-").unwrap_or(&k).to_string(), v))
            .collect(),
    );
    let mut errors = Errors::default();
    let role = match form.value("role").trim() {
        "" => {
            errors.add("role", "choose a role");
            None
        }
        r => match r.parse::<Role>() {
            Ok(r) => Some(r),
            Err(e) => {
                errors.add("role", e);
                None
            }
        },
    };
    // A partner admin's users are its partner's (the API's rule, `user_scope`).
    let partner = match user_scope(&v.principal) {
        Some(own) => Some(own),
        None => match form.value("partner_id").trim() {
            "" => None,
            p => match p.parse::<Uuid>() {
                Ok(p) => Some(p),
                Err(_) => {
                    errors.add("partner_id", "choose a partner from the list");
                    None
                }
            },
        },
    };
    let (Some(role), true) = (role, errors.is_empty()) else {
        return users_page(&s, &v, Form::default(), form, errors, None).await;
    };
    let password = Some(form.value("password")).filter(|p| !p.is_empty());
    match s
        .store
        .accounts()
        .create_user(
            &v.principal.actor(),
            Some(v.principal.role),
            form.value("email").trim(),
            role,
            partner,
            password,
        )
        .await
    {
        Ok(u) => {
            let done = Some(format!("The user {} is created.", shown(&u.email)));
            users_page(&s, &v, Form::default(), Form::default(), errors, done).await
        }
        Err(e @ StoreError::NotFound { .. }) => {
            errors.add("partner_id", e);
            users_page(&s, &v, Form::default(), form, errors, None).await
        }
        Err(e) => {
            beside(&mut errors, e).map_err(|e| v.fail(e))?;
            users_page(&s, &v, Form::default(), form, errors, None).await
        }
    }
}

/// Disables or enables a user (`disabled` = `true` or `false`).
pub async fn set_disabled(
    State(s): State<AppState>,
    v: Viewer,
    axum::extract::Path(id): axum::extract::Path<String>,
    body: axum::body::Bytes,
) -> PageResult {
    let id: Uuid = id
        .parse()
        .map_err(|_| v.fail(ApiError::NotFound("user".into())))?;
    let form = Form::parse(&body);
    let disabled = form.value("disabled") == "true";
    let u = s
        .store
        .accounts()
        .update_user(
            &v.principal.actor(),
            v.principal.role,
            user_scope(&v.principal),
            id,
            None,
            Some(disabled),
        )
        .await
        .map_err(|e| v.fail(e))?;
    // Role and disabled flag are part of cached identities (as the API clears them).
    s.tokens.clear();
    let done = Some(format!(
        "The user {} is {}.",
        shown(&u.email),
        if u.disabled { "disabled" } else { "enabled" }
    ));
    users_page(
        &s,
        &v,
        Form::default(),
        Form::default(),
        Errors::default(),
        done,
    )
    .await
}

#[derive(Template)]
#[template(path = "portal/user.html")]
struct UserPage {
    chrome: Chrome,
    id: Uuid,
    email: String,
    role: &'static str,
    partner: String,
    disabled: bool,
    created: String,
    /// The roles the viewer may give this user (the core's grant and partner rules).
    roles: Vec<Choice>,
    errors: Errors,
    done: Option<String>,
}

/// A page's failure for an address whose id is none: not found, as the API says.
fn user_id_unknown(v: &Viewer) -> super::PageError {
    v.fail(ApiError::NotFound("user".into()))
}

async fn user_page(
    s: &AppState,
    v: &Viewer,
    id: Uuid,
    role_typed: Option<&str>,
    errors: Errors,
    done: Option<String>,
) -> PageResult {
    let acc = s.store.accounts();
    let u = acc
        .get_user(user_scope(&v.principal), id)
        .await
        .map_err(|e| v.fail(e))?;
    let partner = match u.partner_id {
        Some(p) => acc
            .get_partner(v.principal.scope(), p)
            .await
            .map(|p| shown(&p.name))
            .unwrap_or_default(),
        None => String::new(),
    };
    let granter = v.principal.role;
    let roles = choices(
        Role::ALL
            .iter()
            .filter(|r| {
                granter.check_grant(**r).is_ok() && r.check_partner(u.partner_id.is_some()).is_ok()
            })
            .map(|r| (r.as_str().to_string(), r.as_str().replace('_', " "))),
        role_typed.unwrap_or(u.role.as_str()),
        None,
    );
    let page = UserPage {
        chrome: v.chrome(&format!("User {}", shown(&u.email)), "/users"),
        id,
        email: shown(&u.email),
        role: u.role.as_str(),
        partner,
        disabled: u.disabled,
        created: when(&u.created_at),
        roles,
        errors,
        done,
    };
    let status = if page.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(render(status, &page))
}

pub async fn page(
    State(s): State<AppState>,
    v: Viewer,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> PageResult {
    let id: Uuid = id.parse().map_err(|_| user_id_unknown(&v))?;
    user_page(&s, &v, id, None, Errors::default(), None).await
}

/// Changes a user's role (the API's `update_user`: the store checks the viewer may give it
/// and that it fits the user's partner); cached identities are cleared as the API does.
pub async fn set_role(
    State(s): State<AppState>,
    v: Viewer,
    axum::extract::Path(id): axum::extract::Path<String>,
    body: axum::body::Bytes,
) -> PageResult {
    let id: Uuid = id.parse().map_err(|_| user_id_unknown(&v))?;
    let form = Form::parse(&body);
    let typed = form.value("role").trim();
    let mut errors = Errors::default();
    let role = match typed.parse::<Role>() {
        Ok(r) => r,
        Err(e) => {
            errors.add("role", e);
            return user_page(&s, &v, id, Some(typed), errors, None).await;
        }
    };
    match s
        .store
        .accounts()
        .update_user(
            &v.principal.actor(),
            v.principal.role,
            user_scope(&v.principal),
            id,
            Some(role),
            None,
        )
        .await
    {
        Ok(u) => {
            s.tokens.clear();
            let done = Some(format!(
                "The role is now {}.",
                u.role.as_str().replace('_', " ")
            ));
            user_page(&s, &v, id, None, errors, done).await
        }
        Err(e @ StoreError::NotFound { .. }) => Err(v.fail(e)),
        Err(e) => {
            errors.store(e, &["role"], "role").map_err(|e| v.fail(e))?;
            user_page(&s, &v, id, Some(typed), errors, None).await
        }
    }
}

/// Sets a user's password (the API's `set_password`, on a user the viewer may manage): the
/// store checks it and ends the user's sessions. The form asks for it twice (its own check).
pub async fn set_password(
    State(s): State<AppState>,
    v: Viewer,
    axum::extract::Path(id): axum::extract::Path<String>,
    body: axum::body::Bytes,
) -> PageResult {
    let id: Uuid = id.parse().map_err(|_| user_id_unknown(&v))?;
    let form = Form::parse(&body);
    let acc = s.store.accounts();
    let u = acc
        .get_user(user_scope(&v.principal), id)
        .await
        .map_err(|e| v.fail(e))?;
    let mut errors = Errors::default();
    let password = form.value("password");
    if password != form.value("password_again") {
        errors.add("password_again", "the two passwords differ; type it again");
        return user_page(&s, &v, id, None, errors, None).await;
    }
    match acc.set_password(&v.principal.actor(), id, password).await {
        Ok(()) => {
            // The user's sessions ended with the old password; cached ones with them.
            s.tokens.clear();
            let mine = u.id == v.principal.user_id;
            let done = Some(if mine {
                "Your password is set; your sessions have ended: sign in again.".to_string()
            } else {
                format!(
                    "The password of {} is set; its sessions have ended.",
                    shown(&u.email)
                )
            });
            user_page(&s, &v, id, None, errors, done).await
        }
        Err(e @ StoreError::NotFound { .. }) => Err(v.fail(e)),
        Err(e) => {
            errors
                .store(e, &["password"], "password")
                .map_err(|e| v.fail(e))?;
            user_page(&s, &v, id, None, errors, None).await
        }
    }
}
