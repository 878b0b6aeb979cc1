//! The customer view in headless Chromium: a customer profile's page shows what else the
//! customer waits on (its A2P brand refused with Twilio's reasons and the fields to fix, the
//! brand's campaign approved, its A2P trust product), from real signed Event Streams events.

use super::browser::{require_browser, screenshots, start_driver, text_of, wait_for_path};
use crate::support::fake_trusthub::FakeTrustHub;
use crate::support::{
    bundle, callback, fast_jobs, twilio_sign, wait_for, Backend, TestApp, ACCOUNT, API_TOKEN, PUBLIC_URL,
    TOKEN,
};
use fantoccini::Locator;
use serde_json::json;

const BRAND: &str = "BN0044409f7e067e279523808d267e2d85";
const CAMPAIGN: &str = "QE2c6890da8086d771620e9b13fadeba0b";

async fn post_events(app: &TestApp, body: &serde_json::Value) {
    let body = body.to_string();
    let hash = twilio_sign::body_sha256(body.as_bytes());
    let signed = format!("{PUBLIC_URL}/twilio/events?bodySHA256={hash}");
    let answer = app
        .client
        .post(app.url(&format!("/th/twilio/events?bodySHA256={hash}")))
        .header("X-Twilio-Signature", twilio_sign::url_only(&signed, TOKEN))
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
}

async fn the_customer_view_in_a_browser(backend: Backend) {
    require_browser();
    let fake = FakeTrustHub::start().await;
    fake.add_account(ACCOUNT, TOKEN);
    let (profile, product) = (bundle(0x21), bundle(0x22));
    fake.add_profile(&profile, ACCOUNT, "twilio-approved");
    fake.add_brand(BRAND, ACCOUNT, &profile, &product, "FAILED");
    let base = fake.base.clone();
    let app = TestApp::spawn_with(backend, None, move |env| {
        fast_jobs(env);
        env.push(("TRUSTHUB_API_URL", base.clone()));
        env.push(("TWILIO_MESSAGING_API_URL", base));
    })
    .await;
    assert_eq!(
        app.post_signed(&callback(&profile, "twilio-approved"), TOKEN)
            .await
            .status(),
        204
    );
    assert_eq!(
        app.post_signed(&callback(&product, "in-review"), TOKEN)
            .await
            .status(),
        204
    );
    post_events(
        &app,
        &json!([
            {"specversion": "1.0", "id": "NOc1",
             "type": "com.twilio.messaging.compliance.brand-registration.brand-failure",
             "data": {"accountsid": ACCOUNT, "brandsid": BRAND, "brandstatus": "registration_failed",
                      "updateddate": 1_780_000_000_000u64,
                      "brandregistrationerrors": [{"registrationerrorcode": 21736,
                          "registrationerrordescription": "The Brand contact email is invalid.",
                          "registrationerrorfields": ["brand_contact_email"]}]}},
            {"specversion": "1.0", "id": "NOc2",
             "type": "com.twilio.messaging.compliance.campaign-registration.campaign-approved",
             "data": {"accountsid": ACCOUNT, "brandsid": BRAND, "campaignsid": CAMPAIGN,
                      "messagingservicesid": "MGaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                      "campaignregistrationstatus": "approved", "timestamp": 1_780_000_100_000u64}}
        ]),
    )
    .await;
    // The brand's profiles come from the Messaging API, fetched by its notification job.
    wait_for(30, "the brand linked to its profile", || async {
        let (_, shown) = app.api_get(&format!("/v1/profiles/{profile}")).await;
        (shown["brands"].as_array()?.len() == 1).then_some(())
    })
    .await;

    let (_driver, c) = start_driver().await;
    c.goto(&app.url("/ui/login")).await.unwrap();
    c.find(Locator::Id("token"))
        .await
        .unwrap()
        .send_keys(API_TOKEN)
        .await
        .unwrap();
    c.find(Locator::Css("form.login button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_path(&c, "/ui").await;
    c.goto(&app.url(&format!("/ui/profiles/{profile}")))
        .await
        .unwrap();
    let view = text_of(&c, "section[aria-labelledby=customer]").await;
    for needle in [
        "This customer's onboarding",
        "2 still waiting or refused",
        "A2P trust product",
        product.as_str(),
        "A2P brand",
        BRAND,
        "registration_failed",
        "The Brand contact email is invalid.",
        "(error 21736)",
        "Fields to fix: brand_contact_email",
        "A2P campaign",
        CAMPAIGN,
        "approved",
    ] {
        assert!(
            view.contains(needle),
            "{needle:?} missing from the customer view: {view}"
        );
    }
    screenshots(&c, backend, "customer").await;
    // The trust product links to its own page.
    c.find(Locator::LinkText(&product))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_path(&c, &format!("/ui/profiles/{product}")).await;
    c.close().await.unwrap();
}

mod the_customer_view_in_a_browser {
    use crate::support::Backend;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs chromium and chromedriver"]
    async fn sqlite() {
        super::the_customer_view_in_a_browser(Backend::Sqlite).await
    }
}
