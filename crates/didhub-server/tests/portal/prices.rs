//! A package's prices in the portal's form: read and checked as the API's (the store's
//! checks beside their line), saved, changed and removed.

use didhub_core::licensing::TermKind;

use crate::support::*;

#[tokio::test]
async fn a_packages_prices_are_checked_beside_their_line_and_saved() {
    let app = start(false).await;
    seed(&app).await;
    let s = login(&app, ADMIN).await;
    let csrf = s.csrf().await;
    let (_, html) = s.page("/packages/new").await;
    assert!(
        html.contains("id=\"f-price_amount_0\""),
        "a blank line: {html}"
    );
    let base = |extra: &[(&'static str, &'static str)]| {
        let mut f = vec![
            ("csrf", csrf.clone()),
            ("name", "Priced".to_string()),
            ("did_allowance", "5".to_string()),
        ];
        f.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        f
    };
    let post = |form: Vec<(&'static str, String)>| {
        let s = &s;
        async move {
            let f: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let r = s.post("/packages/new", &f).await;
            (r.status().as_u16(), r.text().await.expect("page"))
        }
    };
    // The form's own reading: a term chosen, an amount that is one.
    let (st, html) = post(base(&[
        ("price_term_0", ""),
        ("price_currency_0", "EUR"),
        ("price_amount_0", "twelve"),
    ]))
    .await;
    assert_eq!(st, 422);
    assert!(html.contains("id=\"e-price_term_0\""), "{html}");
    assert!(html.contains("id=\"e-price_amount_0\""), "{html}");
    assert_eq!(
        input_value(&html, "price_amount_0").as_deref(),
        Some("twelve")
    );
    assert_eq!(
        input_value(&html, "price_currency_0").as_deref(),
        Some("EUR")
    );
    // The store's checks, beside the line they concern (the second line here).
    for (currency, amount, field) in [
        ("ZZZ", "10.00", "e-price_currency_1"),
        ("EUR", "10.005", "e-price_amount_1"),
        ("EUR", "-1", "e-price_amount_1"),
    ] {
        let form = base(&[
            ("price_term_0", "monthly"),
            ("price_currency_0", "EUR"),
            ("price_amount_0", "10"),
            ("price_term_1", "yearly"),
            ("price_currency_1", currency),
            ("price_amount_1", amount),
        ]);
        let (st, html) = post(form).await;
        assert_eq!(st, 422, "{currency} {amount}");
        assert!(html.contains(&format!("id=\"{field}\"")), "{field}: {html}");
    }
    // Two prices for one term and currency: refused above the lines.
    let (st, html) = post(base(&[
        ("price_term_0", "yearly"),
        ("price_currency_0", "EUR"),
        ("price_amount_0", "100"),
        ("price_term_1", "yearly"),
        ("price_currency_1", "eur"),
        ("price_amount_1", "120"),
    ]))
    .await;
    assert_eq!(st, 422);
    assert!(html.contains("id=\"e-prices\""), "{html}");
    let list = app.store.assignment().list_packages().await.expect("list");
    assert!(!list.iter().any(|p| p.name == "Priced"), "nothing created");
    // Saved: a blank line is no price.
    let (st, html) = post(base(&[
        ("price_term_0", "yearly"),
        ("price_currency_0", "EUR"),
        ("price_amount_0", "1200.00"),
        ("price_term_1", "monthly"),
        ("price_currency_1", ""),
        ("price_amount_1", ""),
        ("price_term_2", "monthly"),
        ("price_currency_2", "GBP"),
        ("price_amount_2", "99.5"),
    ]))
    .await;
    assert_eq!(st, 200, "{html}");
    let p = app
        .store
        .assignment()
        .list_packages()
        .await
        .expect("list")
        .into_iter()
        .find(|p| p.name == "Priced")
        .expect("created");
    assert_eq!(p.prices.len(), 2, "{:?}", p.prices);
    // The API reads the same prices.
    let (st, api) = app.get_json(&format!("/api/v1/packages/{}", p.id)).await;
    assert_eq!(st, 200);
    assert_eq!(api["prices"].as_array().map(Vec::len), Some(2), "{api}");
    // The page shows the lines, and one more.
    let path = format!("/packages/{}", p.id);
    let (_, html) = s.page(&path).await;
    let gbp = p
        .prices
        .iter()
        .position(|x| x.currency == "GBP")
        .expect("GBP");
    assert_eq!(
        input_value(&html, &format!("price_currency_{gbp}")).as_deref(),
        Some("GBP")
    );
    assert!(html.contains("id=\"f-price_amount_2\""), "{html}");
    // Edited: the EUR line blanked (removed), the GBP one changed.
    let version = p.version.to_string();
    let eur = 1 - gbp;
    let (tg, cg, ag) = (
        format!("price_term_{gbp}"),
        format!("price_currency_{gbp}"),
        format!("price_amount_{gbp}"),
    );
    let (te, ce, ae) = (
        format!("price_term_{eur}"),
        format!("price_currency_{eur}"),
        format!("price_amount_{eur}"),
    );
    let r = s
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("version", &version),
                ("name", "Priced"),
                ("did_allowance", "5"),
                (&te, "yearly"),
                (&ce, ""),
                (&ae, ""),
                (&tg, "yearly"),
                (&cg, "GBP"),
                (&ag, "1000"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let p = app.store.assignment().get_package(p.id).await.expect("p");
    assert_eq!(p.prices.len(), 1, "{:?}", p.prices);
    assert_eq!(p.prices[0].term_kind, TermKind::Yearly);
    assert_eq!(p.prices[0].currency, "GBP");
    assert_eq!(p.prices[0].amount, rust_decimal::Decimal::from(1000));
}
