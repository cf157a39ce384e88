//! A partner's support centre on its page: support staff move the partner to another centre
//! (the store's `set_partner_centre`, as the API's `PUT …/support-centre`), a centre that is
//! none refused beside the field; partners read theirs without the form.

use didhub_core::access::Role;
use didhub_store::accounts::orgs::Scope;

use crate::support::*;

#[tokio::test]
async fn support_moves_a_partner_to_another_centre_and_an_unknown_one_is_refused_beside_the_field()
{
    let app = start(false).await;
    let seed = seed(&app).await;
    let desk = login(&app, SUPPORT).await;
    let path = format!("/partners/{}", seed.partner_a);
    let (status, html) = desk.page(&path).await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("<dd id=\"centre\">Europe (Europe/Rome)</dd>"),
        "{html}"
    );
    assert!(
        html.contains("<option value=\"europe\" selected>"),
        "{html}"
    );
    let csrf = desk.csrf().await;
    let to = format!("{path}/support-centre");
    // No such centre: beside the field, nothing changed.
    let r = desk.post(&to, &[("csrf", &csrf), ("centre", "mars")]).await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.expect("page");
    assert!(html.contains("id=\"e-centre\""), "{html}");
    assert!(html.contains("aria-describedby=\"e-centre\""), "{html}");
    assert!(html.contains("no support centre"), "{html}");
    let support = app.store.support();
    let now = support
        .partner_centre(Scope::All, seed.partner_a)
        .await
        .expect("centre");
    assert_eq!(now.code, "europe");
    // Moved: said, shown, and the store agrees.
    let r = desk
        .post(&to, &[("csrf", &csrf), ("centre", "americas")])
        .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.expect("page");
    assert!(html.contains("support centre is Americas"), "{html}");
    assert!(
        html.contains("<dd id=\"centre\">Americas (America/New_York)</dd>"),
        "{html}"
    );
    assert!(
        html.contains("<option value=\"americas\" selected>"),
        "{html}"
    );
    let now = support
        .partner_centre(Scope::All, seed.partner_a)
        .await
        .expect("centre");
    assert_eq!(now.code, "americas");
    // Without the CSRF token: refused.
    let r = desk.post(&to, &[("centre", "europe")]).await;
    assert_eq!(r.status(), 403);
    app.stop().await;
}

#[tokio::test]
async fn a_partner_reads_its_centre_without_the_form_and_operations_may_not_move_it() {
    let app = start(false).await;
    let seed = seed(&app).await;
    let alice = login(&app, PARTNER_USER).await;
    let path = format!("/partners/{}", seed.partner_a);
    let (status, html) = alice.page(&path).await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("<dd id=\"centre\">Europe (Europe/Rome)</dd>"),
        "{html}"
    );
    assert!(!html.contains("support-centre"), "{html}");
    let csrf = alice.csrf().await;
    let r = alice
        .post(
            &format!("{path}/support-centre"),
            &[("csrf", &csrf), ("centre", "americas")],
        )
        .await;
    assert_eq!(r.status(), 404);
    user(&app, "ops@example.com", Role::Operations, None).await;
    let ops = login(&app, "ops@example.com").await;
    let (status, html) = ops.page(&path).await;
    assert_eq!(status, 200, "{html}");
    assert!(!html.contains("support-centre"), "{html}");
    let csrf = ops.csrf().await;
    let r = ops
        .post(
            &format!("{path}/support-centre"),
            &[("csrf", &csrf), ("centre", "americas")],
        )
        .await;
    assert_eq!(r.status(), 403);
    let now = app
        .store
        .support()
        .partner_centre(Scope::All, seed.partner_a)
        .await
        .expect("centre");
    assert_eq!(now.code, "europe");
    app.stop().await;
}
