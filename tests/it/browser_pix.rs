//! Pix by BR Code in Chromium: a customer makes a QR Code with an amount on "Receber com Pix",
//! the text is copied from the page, another customer pastes it in "Pagar com Pix copia e
//! cola" (a changed copy is refused in Portuguese first), reviews what will be paid and pays.
//! A child of `browser` so it drives the same WebDriver session type. Also "Minhas chaves Pix" and
//! a typed key on the Pix page, desktop and phone, under axe-core.

use super::*;

#[tokio::test]
async fn browser_pix_copy_paste_round_trip() {
    let Some(browser) = Browser::start("browser_pix_copy_paste_round_trip").await else {
        return;
    };
    let bank = TestBank::start_with("alfa", |config| config.pix_city = "Florianópolis".into()).await;

    // Ana makes a code for R$ 42,50 on her account's "Receber com Pix" page.
    browser.sign_up(&bank.url, &new_cpf(), "Ana Luísa").await;
    browser.goto(&format!("{}/dashboard", bank.url)).await;
    browser.click("a.button[href^='/accounts/']").await;
    browser.click("#pix-receive").await;
    browser.wait_for_text("Receber com Pix").await;
    // No key yet: her CPF is registered in the consortium's key directory from the page.
    browser.find("#pix-no-key").await;
    browser.click("#pix-register-document").await;
    // The registration is ordered by the directory's replicas (several fsyncs each): under the
    // whole suite's load that may take longer than a page load.
    browser.find_within("#pix-generate", COMMIT_LIMIT).await;
    browser.type_into("#amount", "42,50").await;
    browser.type_into("#description", "Aula de violão").await;
    browser.click("#pix-generate").await;
    browser.find("#pix-qr svg").await;
    let copied = browser.property("#brcode-payload", "value").await;
    let code = ringbank_domain::brcode::BrCode::parse(&copied).expect("the page's text is a valid BR Code");
    assert_eq!(code.amount_cents, Some(4_250));
    assert_eq!(code.merchant_name, "Ana Luisa");
    assert_eq!(code.merchant_city, "Florianopolis");
    browser.screenshot("pix-receive").await;
    browser.axe("pix receive").await;
    browser.click("header form.inline button").await;
    // Signed out for good before the next page is asked for (else the sign-out's redirect may land after it).
    browser.wait_for_path("/signin").await;

    // Pedro signs up, deposits, and pastes the code: first a changed copy, then the right one.
    browser.sign_up(&bank.url, &new_cpf(), "Pedro Alves").await;
    browser.deposit_first(&bank.url, "100,00").await;
    browser.click("nav a[href='/pix']").await;
    browser.wait_for_text("Pagar com Pix copia e cola").await;
    // R$ 42,50 made R$ 92,50 without fixing the CRC.
    let changed = copied.replacen("540542.50", "540592.50", 1);
    assert_ne!(changed, copied);
    browser.type_into("#payload", &changed).await;
    browser.click("#pix-continue").await;
    browser.wait_for_text("foi alterado ou está incompleto").await;
    browser.screenshot("pix-tampered").await;
    browser.axe("pix paste with an error").await;
    browser.type_into("#payload", &copied).await;
    browser.click("#pix-continue").await;
    browser.wait_for_text("Confira o pagamento Pix").await;
    assert_eq!(browser.text("#review-payee").await, "Ana Luísa");
    assert_eq!(browser.text("#review-amount").await, "R$ 42,50");
    assert_eq!(browser.text("#review-city").await, "Florianopolis");
    assert!(browser.text("#review-document").await.starts_with("***."));
    assert_eq!(browser.text("#review-description").await, "Aula de violao");
    browser.screenshot("pix-review").await;
    browser.axe("pix review").await;
    browser.click("#pix-pay").await;
    browser.wait_for_path("/transfers/").await;
    browser.wait_for_text("Concluída").await;
    browser.wait_for_text("R$ 42,50").await;
    browser.screenshot("pix-paid").await;
    bank.assert_audit_passes().await;
    browser.close().await;
}

/// "Minhas chaves Pix" and a typed key on the Pix page, on a desktop and a phone-sized window,
/// with axe-core on every state: no keys, the code form, a wrong code, the delete confirm step,
/// the review of a typed key.
#[tokio::test]
async fn browser_pix_keys_page_and_typed_key_desktop_and_phone() {
    let Some(browser) = Browser::start("browser_pix_keys_page_and_typed_key_desktop_and_phone").await else {
        return;
    };
    let bank = TestBank::start("alfa").await;
    let cpf = new_cpf();
    browser.sign_up(&bank.url, &cpf, "Helena Costa").await;
    browser.goto(&format!("{}/dashboard", bank.url)).await;
    browser.click("a.button[href^='/accounts/']").await;
    browser.click("#pix-keys").await;
    browser.wait_for_text("Minhas chaves Pix").await;
    browser.find("#keys-none").await;
    browser.axe("pix keys, none yet").await;
    browser.click("#keys-add-document").await;
    browser.wait_for_text("Chave cadastrada.").await;
    browser.click("#keys-add-random").await;
    browser.find("#keys-list li[data-kind='random']").await;
    // An e-mail key: the code form, then a wrong code.
    browser.type_into("#value", "helena@example.com").await;
    browser.click("#keys-add-contact").await;
    browser.find("#keys-code").await;
    browser.axe("pix keys, code sent").await;
    browser.type_into("#code", "12345").await;
    browser.click("#keys-code-submit").await;
    browser.find("#code-error").await;
    browser.axe("pix keys, wrong code").await;
    browser.screenshot("pix-keys").await;

    // A phone-sized window: the same page, then the delete confirm step.
    browser.command(reqwest::Method::POST, "/window/rect", Some(json!({"width": 390, "height": 844}))).await;
    browser.click(".breadcrumb a").await;
    browser.click("#pix-keys").await;
    browser.find("#keys-list li[data-kind='random']").await;
    browser.axe("pix keys, phone").await;
    browser.screenshot("pix-keys-mobile").await;
    browser.click("#keys-list li[data-kind='random'] button").await;
    browser.wait_for_text("Excluir chave Pix").await;
    browser.axe("pix key delete, phone").await;
    browser.click("#key-delete-confirm").await;
    browser.wait_for_text("Chave excluída.").await;
    assert!(browser.text("#keys-list").await.contains("CPF"));
    browser.command(reqwest::Method::POST, "/window/rect", Some(json!({"width": 1280, "height": 1100}))).await;
    browser.axe("pix keys, deleted").await;
    browser.click("header form.inline button").await;
    // Signed out for good before the next page is asked for (else the sign-out's redirect may land after it).
    browser.wait_for_path("/signin").await;

    // Pedro types her CPF key on the Pix page: the review names her, with the masked CPF.
    browser.sign_up(&bank.url, &new_cpf(), "Pedro Alves").await;
    browser.deposit_first(&bank.url, "100,00").await;
    browser.click("nav a[href='/pix']").await;
    browser.wait_for_text("Pagar com Pix copia e cola").await;
    browser.type_into("#payload", &cpf).await;
    browser.click("#pix-continue").await;
    browser.wait_for_text("Confira o pagamento Pix").await;
    assert_eq!(browser.text("#review-payee").await, "Helena Costa");
    assert_eq!(browser.text("#review-document").await, format!("***.{}.{}-**", &cpf[3..6], &cpf[6..9]));
    browser.axe("pix review of a typed key").await;
    browser.command(reqwest::Method::POST, "/window/rect", Some(json!({"width": 390, "height": 844}))).await;
    browser.axe("pix review of a typed key, phone").await;
    browser.screenshot("pix-key-review-mobile").await;
    browser.command(reqwest::Method::POST, "/window/rect", Some(json!({"width": 1280, "height": 1100}))).await;
    browser.type_into("#amount", "15,00").await;
    browser.click("#pix-pay").await;
    browser.wait_for_path("/transfers/").await;
    browser.wait_for_text("Concluída").await;
    bank.assert_audit_passes().await;
    browser.close().await;
}
