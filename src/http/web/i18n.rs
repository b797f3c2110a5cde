//! The pages' one translation table: Brazilian Portuguese (default) and English. Every string
//! a page shows comes from here, by key; `{}` placeholders are filled in order by `fill`.

use std::collections::HashMap;
use std::sync::LazyLock;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Pt,
    En,
}

impl Lang {
    /// The value of the `lang` cookie and query parameter.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Pt => "pt",
            Lang::En => "en",
        }
    }

    /// The value of `<html lang>`.
    pub fn html_code(self) -> &'static str {
        match self {
            Lang::Pt => "pt-BR",
            Lang::En => "en",
        }
    }

    pub fn parse(text: &str) -> Option<Lang> {
        match text {
            "pt" | "pt-BR" | "pt-br" => Some(Lang::Pt),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    pub fn other(self) -> Lang {
        match self {
            Lang::Pt => Lang::En,
            Lang::En => Lang::Pt,
        }
    }
}

/// Looks strings up in one language; cheap to copy into every template.
#[derive(Clone, Copy, Debug)]
pub struct Tr {
    pub lang: Lang,
}

impl Tr {
    /// The string for `key`; the key itself if it is missing (a test checks none is).
    pub fn get(&self, key: &str) -> &'static str {
        match TABLE_BY_KEY.get(key) {
            Some((pt, en)) => match self.lang {
                Lang::Pt => pt,
                Lang::En => en,
            },
            None => {
                tracing::warn!(key, "missing translation");
                "?"
            }
        }
    }

    /// The string for `key`, or None when there is none (for keys built from data).
    pub fn get_opt(&self, key: &str) -> Option<&'static str> {
        TABLE_BY_KEY.get(key).map(|(pt, en)| match self.lang {
            Lang::Pt => *pt,
            Lang::En => *en,
        })
    }

    pub fn has(&self, key: &str) -> bool {
        TABLE_BY_KEY.contains_key(key)
    }

    /// `fill` with one argument (handy in templates).
    pub fn fill1(&self, key: &str, arg: &str) -> String {
        self.fill(key, &[arg])
    }

    /// The string for `key` with each `{}` replaced by the next argument.
    pub fn fill(&self, key: &str, args: &[&str]) -> String {
        let mut out = String::new();
        let mut args = args.iter();
        let mut parts = self.get(key).split("{}");
        if let Some(first) = parts.next() {
            out.push_str(first);
        }
        for part in parts {
            out.push_str(args.next().copied().unwrap_or(""));
            out.push_str(part);
        }
        out
    }
}

static TABLE_BY_KEY: LazyLock<HashMap<&'static str, (&'static str, &'static str)>> =
    LazyLock::new(|| TABLE.iter().chain(super::pix_text::TABLE).map(|(key, pt, en)| (*key, (*pt, *en))).collect());

/// (key, pt-BR, en)
pub const TABLE: &[(&str, &str, &str)] = &[
    // Chrome
    ("site.tagline", "Internet banking", "Internet banking"),
    ("nav.skip", "Pular para o conteúdo", "Skip to content"),
    ("nav.main", "Navegação principal", "Main navigation"),
    ("nav.quick", "Atalhos", "Shortcuts"),
    ("nav.dashboard", "Minhas contas", "My accounts"),
    ("nav.deposit", "Depositar", "Deposit"),
    ("nav.withdraw", "Sacar", "Withdraw"),
    ("nav.pay", "Pagar", "Pay"),
    ("nav.transfer", "Transferir", "Transfer"),
    ("nav.new_account", "Nova conta", "New account"),
    ("nav.signin", "Entrar", "Sign in"),
    ("nav.signup", "Abrir conta", "Open an account"),
    ("nav.signout", "Sair", "Sign out"),
    ("nav.hello", "Olá, {}", "Hello, {}"),
    ("nav.language", "Idioma", "Language"),
    (
        "footer.text",
        "Banco {} · consórcio sem banco central · valores em reais (R$)",
        "Bank {} · a consortium with no central bank · amounts in reais (R$)",
    ),
    ("footer.api", "API para desenvolvedores", "Developer API"),
    ("footer.verify", "Verificar um comprovante", "Verify a receipt"),
    ("verify.title", "Verificar comprovante", "Verify a receipt"),
    (
        "verify.lead",
        "Cole o comprovante (o JSON assinado que a página da transferência mostra). A assinatura do banco coordenador é conferida com a chave pública dele na lista de membros do consórcio.",
        "Paste the receipt (the signed JSON a transfer's page shows). The coordinating bank's signature is checked against its public key in the consortium's member list."
    ),
    ("verify.field", "Comprovante (JSON)", "Receipt (JSON)"),
    ("verify.submit", "Verificar", "Verify"),
    ("verify.valid", "Comprovante válido: assinado pelo banco coordenador.", "Valid receipt: signed by the coordinating bank."),
    ("verify.invalid", "Comprovante inválido.", "Invalid receipt."),
    ("verify.members", "Membros do consórcio e suas chaves públicas", "Consortium members and their public keys"),
    ("receipt.signed", "Comprovante assinado", "Signed receipt"),
    (
        "receipt.signed_lead",
        "O banco coordenador {} assinou a decisão desta transferência (ordem: época {}, sequência {}, posição {}). Qualquer pessoa pode conferir este texto na página de verificação ou com ringbank verify.",
        "The coordinating bank {} signed this transfer's decision (order: epoch {}, sequence {}, position {}). Anyone can check this text on the verify page or with ringbank verify."
    ),
    ("receipt.e2e", "Identificador fim a fim", "End-to-end id"),
    ("receipt.print", "Imprimir ou salvar em PDF", "Print or save as PDF"),
    ("receipt.verify_link", "Verificar este comprovante", "Verify this receipt"),
    // Landing
    ("home.title", "Seu banco, sem intermediários", "Your bank, with no middleman"),
    (
        "home.lead",
        "O banco {} faz parte de um consórcio de bancos que liquidam pagamentos instantâneos entre si, sem banco central.",
        "Bank {} is part of a consortium of banks that settle instant payments among themselves, with no central bank.",
    ),
    ("home.cta_signup", "Abrir minha conta", "Open my account"),
    ("home.cta_signin", "Já sou cliente", "I am a customer"),
    ("home.cta_dashboard", "Ir para minhas contas", "Go to my accounts"),
    ("home.feature1.title", "Pessoa física e jurídica", "Individuals and companies"),
    (
        "home.feature1.text",
        "Conta individual com CPF, conta empresarial com CNPJ e contas conjuntas.",
        "Individual accounts with a CPF, company accounts with a CNPJ, and joint accounts.",
    ),
    ("home.feature2.title", "Transferências instantâneas", "Instant transfers"),
    (
        "home.feature2.text",
        "Junte várias contas de origem numa única transferência, com confirmação antes de enviar.",
        "Combine several source accounts in one transfer, with a confirmation before it is sent.",
    ),
    ("home.feature3.title", "Extrato sempre em dia", "Always up-to-date statements"),
    (
        "home.feature3.text",
        "Saldo, saldo disponível e extrato de cada conta, do mais recente ao mais antigo.",
        "Balance, available balance and statement of every account, newest first.",
    ),
    // Forms, shared
    ("form.errors_title", "Corrija os campos destacados.", "Please correct the highlighted fields."),
    ("form.required", "Preencha este campo.", "Please fill in this field."),
    ("form.cancel", "Cancelar", "Cancel"),
    ("form.back", "Voltar e editar", "Go back and edit"),
    ("field.document", "CPF ou CNPJ", "CPF or CNPJ"),
    (
        "field.document.hint",
        "Somente números ou com pontuação: 111.444.777-35 ou 11.222.333/0001-81.",
        "Digits only or punctuated: 111.444.777-35 or 11.222.333/0001-81.",
    ),
    ("field.name", "Nome completo ou razão social", "Full name or company name"),
    ("field.password", "Senha", "Password"),
    ("field.password.hint", "De 8 a 128 caracteres.", "8 to 128 characters."),
    ("field.password_confirm", "Confirme a senha", "Confirm the password"),
    ("field.account", "Conta", "Account"),
    ("field.amount", "Valor (R$)", "Amount (R$)"),
    ("field.amount.hint", "Em reais, com vírgula antes dos centavos: 1.234,56 ou 1234,56.", "In reais, with a comma before the centavos: 1.234,56 or 1234,56."),
    ("field.from_account", "Conta de origem", "From account"),
    ("error.bank_unavailable", "O banco {} não respondeu; tente de novo em instantes.", "Bank {} did not answer; try again in a moment."),
    ("field.to_bank", "Banco de destino", "Destination bank"),
    ("field.to_bank.hint", "Código do banco; este banco é {}.", "The bank's id; this bank is {}."),
    ("field.to_account", "Conta de destino", "Destination account"),
    ("field.reference", "Referência do pagamento", "Payment reference"),
    (
        "field.reference.hint",
        "Número do boleto, da nota ou do pedido (até 140 caracteres).",
        "Invoice, bill or order number (up to 140 characters).",
    ),
    ("field.description", "Descrição (opcional)", "Description (optional)"),
    ("field.kind", "Tipo de conta", "Account type"),
    ("field.holders", "Outros titulares (CPF)", "Other holders (CPF)"),
    (
        "field.holders.hint",
        "Para uma conta conjunta, informe o CPF de cada outro titular; eles precisam ser clientes deste banco.",
        "For a joint account, give each other holder's CPF; they must be customers of this bank.",
    ),
    ("field.holder_n", "CPF do titular {}", "Holder {} CPF"),
    // Field errors
    ("error.document_invalid", "CPF ou CNPJ inválido: confira os dígitos.", "Invalid CPF or CNPJ: check the digits."),
    ("error.name_invalid", "Informe um nome de 1 a 120 caracteres.", "Give a name of 1 to 120 characters."),
    ("error.password_length", "A senha precisa ter de 8 a 128 caracteres.", "The password needs 8 to 128 characters."),
    (
        "error.password_common",
        "Essa senha está entre as mais usadas; escolha uma frase só sua.",
        "That password is one of the most used; choose a phrase of your own.",
    ),
    (
        "error.password_trivial",
        "Senha simples demais: caracteres repetidos ou em sequência, ou menos de 4 diferentes.",
        "Too simple: repeated or sequential characters, or fewer than 4 different ones.",
    ),
    (
        "error.password_personal",
        "A senha não pode ser o seu CPF/CNPJ nem o seu nome.",
        "The password must not be your CPF/CNPJ or your name.",
    ),
    ("account.pending", "Conta conjunta aguardando o aceite de: ", "Joint account waiting for the acceptance of: "),
    ("account.accept", "Aceitar ser titular desta conta", "Accept being a holder of this account"),
    ("account.accepted", "Você aceitou ser titular desta conta.", "You accepted being a holder of this account."),
    // Scheduled transfers (src/http/web/schedules.rs)
    ("schedules.title", "Transferências agendadas", "Scheduled transfers"),
    ("schedules.empty", "Nenhuma transferência agendada.", "No scheduled transfers."),
    ("schedules.what", "{} da conta {} para {} / {}", "{} from account {} to {} / {}"),
    ("schedules.next", "próxima em {} ({})", "next on {} ({})"),
    ("schedules.repeat", "Repetir", "Repeat"),
    ("schedules.repeat.once", "uma vez", "once"),
    ("schedules.repeat.weekly", "toda semana", "weekly"),
    ("schedules.repeat.monthly", "todo mês", "monthly"),
    ("schedules.status.active", "ativa", "active"),
    ("schedules.status.cancelled", "cancelada", "cancelled"),
    ("schedules.status.finished", "concluída", "finished"),
    ("schedules.run.committed", "feita", "made"),
    ("schedules.run.pending", "em andamento", "in progress"),
    ("schedules.run.failed", "falhou", "failed"),
    ("schedules.run.missed", "não feita", "missed"),
    ("schedules.cancel", "Cancelar agendamento", "Cancel schedule"),
    ("schedules.new", "Agendar transferência", "Schedule a transfer"),
    ("schedules.to_bank", "Banco de destino", "Destination bank"),
    ("schedules.to_account", "Conta de destino", "Destination account"),
    ("schedules.first_at", "Data e hora", "Date and time"),
    ("schedules.first_at_hint", "AAAA-MM-DD HH:MM, hora local do banco (UTC{})", "YYYY-MM-DD HH:MM, the bank's local time (UTC{})"),
    ("schedules.first_at_invalid", "Informe data e hora, como 2026-12-05T09:00.", "Give a date and time, like 2026-12-05T09:00."),
    ("schedules.first_at_future", "Escolha uma data e hora futura (até um ano).", "Choose a date and time in the future (up to a year)."),
    ("schedules.submit", "Agendar", "Schedule"),
    ("schedules.created", "Transferência agendada.", "Transfer scheduled."),
    ("schedules.cancelled", "Agendamento cancelado.", "Schedule cancelled."),
    ("schedules.failed_notice", "Uma transferência agendada não foi feita ({}): {}", "A scheduled transfer was not made ({}): {}"),
    ("error.schedule-not-found", "Agendamento não encontrado.", "Schedule not found."),
    // Refunds (src/http/web/refunds.rs)
    ("refund.link", "Devolver", "Refund"),
    ("refund.title", "Devolução", "Refund"),
    ("refund.lead", "Devolver, no todo ou em parte, o valor recebido na transferência", "Return, in whole or in part, what was received in transfer"),
    ("refund.credited", "Recebido", "Received"),
    ("refund.refunded", "Já devolvido", "Already refunded"),
    ("refund.left", "Pode devolver", "Can refund"),
    ("refund.note", "Mensagem (opcional)", "Message (optional)"),
    ("refund.submit", "Devolver", "Refund"),
    ("refund.done", "Devolução de {} feita para a conta {}.", "Refund of {} made to account {}."),
    (
        "refund.sent",
        "Devolução de {} enviada para a conta {} do banco {}; ela se conclui quando o banco dela confirmar.",
        "Refund of {} sent to account {} at bank {}; it completes when that bank confirms it.",
    ),
    (
        "refund.sent_several",
        "Devolução de {} enviada a quem pagou, na proporção de cada um: {}; ela se conclui quando os bancos confirmarem.",
        "Refund of {} sent to the payers, in proportion to what each paid: {}; it completes when their banks confirm it.",
    ),
    ("refund.done_several", "Devolução de {} feita a quem pagou, na proporção de cada um: {}.", "Refund of {} made to the payers, in proportion to what each paid: {}."),
    ("refund.part", "conta {} do banco {} ({})", "account {} at bank {} ({})"),
    ("refund.pending", "em andamento", "in progress"),
    ("refund.nothing_left", "Este valor já foi devolvido por inteiro.", "This amount was already refunded in full."),
    (
        "error.refund-refused",
        "Devolução não permitida: o valor passa do que resta a devolver, ou a transferência tem mais de 90 dias.",
        "Refund not allowed.",
    ),
    ("refund.more_than_left", "Resta {} para devolver.", "{} is left to refund."),
    // Transfer limits (src/http/web/limits.rs)
    ("nav.limits", "Limites", "Limits"),
    ("limits.title", "Limites de transferência", "Transfer limits"),
    ("limits.back", "Conta", "Account"),
    ("limits.own_title", "Meus limites", "My limits"),
    (
        "limits.own_lead",
        "Valem para o total do que você transfere de todas as suas contas neste banco, além dos limites de cada conta. Sem limite até você definir um.",
        "They apply to the total you transfer from all your accounts at this bank, on top of each account's limits. No limit until you set one.",
    ),
    ("limits.limit", "Limite", "Limit"),
    ("limits.in_force", "Em vigor", "In force"),
    ("limits.left", "Disponível agora", "Left now"),
    ("limits.per_transfer", "Por transferência", "Per transfer"),
    ("limits.daily", "Por dia", "Per day"),
    ("limits.night", "Noturno (20h às 6h)", "Night (20:00 to 06:00)"),
    ("limits.none", "Sem limite", "No limit"),
    ("limits.night_now", "Agora vale o período noturno (20h às 6h).", "The night period (20:00 to 06:00) is in force now."),
    ("limits.day_now", "Agora é período diurno; o limite noturno vale das 20h às 6h.", "It is day now; the night limit applies from 20:00 to 06:00."),
    ("limits.raise_waiting", "Aumento pedido ({}): vale a partir de {}.", "Raise asked for ({}): applies from {}."),
    ("limits.change", "Alterar limites", "Change limits"),
    (
        "limits.hint",
        "Valores em reais; em branco é sem limite. Uma redução vale na hora; um aumento só depois de {}.",
        "Amounts in reais; blank is no limit. A lower limit applies at once; a higher one only after {}.",
    ),
    ("limits.submit", "Salvar limites", "Save limits"),
    ("limits.saved", "Limites salvos.", "Limits saved."),
    ("limits.amount_invalid", "Informe um valor positivo, como 1.000,00, ou deixe em branco.", "Give a positive amount, like 1.000,00, or leave it blank."),
    ("limits.kind.per_transfer", "por transferência", "per transfer"),
    ("limits.kind.daily", "diário", "daily"),
    ("limits.kind.night", "noturno (20h às 6h)", "night (20:00 to 06:00)"),
    (
        "error.transfer-limit-exceeded",
        "Limite {} da conta {} ultrapassado: o limite é {}, restam {}.",
        "The {} limit of account {} was exceeded: the limit is {}, {} left.",
    ),
    (
        "error.transfer-limit-exceeded.customer",
        "Seu limite {} (todas as suas contas, {}) foi ultrapassado: o limite é {}, restam {}.",
        "Your own {} limit (all your accounts, {}) was exceeded: the limit is {}, {} left.",
    ),
    ("error.account-pending", "A conta aguarda o aceite de todos os titulares.", "The account waits for every holder to accept it."),
    ("error.password_mismatch", "As senhas não conferem.", "The passwords do not match."),
    ("error.amount_invalid", "Informe um valor como 1.234,56.", "Give an amount such as 1.234,56 (reais, comma before the centavos)."),
    (
        "error.amount_cents",
        "Depois da vírgula vêm só os centavos (até 2 dígitos): 12,34 ou 12.345,00.",
        "Only centavos follow the comma (up to 2 digits): 12,34 or 12.345,00."
    ),
    (
        "error.amount_grouping",
        "Use vírgula para os centavos e ponto só para os milhares: 1.234,56 ou 1234,56.",
        "Use a comma before the centavos and points only between thousands: 1.234,56 or 1234,56."
    ),
    ("error.amount_positive", "O valor precisa ser maior que zero.", "The amount must be more than zero."),
    ("error.amount_max", "O valor máximo por operação é {}.", "One operation moves at most {}."),
    ("error.account_invalid", "Informe o número da conta (somente dígitos).", "Give the account number (digits only)."),
    ("error.account_choose", "Escolha uma das suas contas.", "Choose one of your accounts."),
    ("error.bank_invalid", "Código de banco inválido.", "Invalid bank id."),
    ("error.reference_invalid", "Informe uma referência de 1 a 140 caracteres.", "Give a reference of 1 to 140 characters."),
    ("error.description_invalid", "A descrição tem no máximo 140 caracteres.", "The description has at most 140 characters."),
    ("error.no_sources", "Informe ao menos uma conta de origem com valor.", "Give at least one source account with an amount."),
    ("error.repeated_source", "Esta conta já aparece em outra linha.", "This account already appears in another row."),
    ("error.kind_choose", "Escolha o tipo de conta.", "Choose the account type."),
    (
        "error.joint_needs_holder",
        "Uma conta conjunta precisa de ao menos mais um titular.",
        "A joint account needs at least one more holder.",
    ),
    // Errors from the operations (ApiError slugs)
    ("error.invalid-field", "Há um dado inválido no formulário.", "The form has an invalid value."),
    ("error.missing-field", "Falta um dado no formulário.", "A value is missing from the form."),
    ("error.malformed-json", "O formulário não pôde ser lido.", "The form could not be read."),
    ("error.invalid-document", "CPF ou CNPJ inválido: confira os dígitos.", "Invalid CPF or CNPJ: check the digits."),
    ("error.invalid-amount", "Valor inválido.", "Invalid amount."),
    ("error.limit-exceeded", "Um limite foi ultrapassado: {}", "A limit was exceeded: {}"),
    ("error.unbalanced-transfer", "Os valores de origem e destino não conferem.", "The source and destination amounts differ."),
    ("error.unknown-bank", "O banco {} não faz parte do consórcio.", "Bank {} is not a member of the consortium."),
    ("error.unauthenticated", "Sua sessão expirou. Entre novamente.", "Your session has expired. Please sign in again."),
    ("error.wrong-credentials", "CPF/CNPJ ou senha incorretos.", "Wrong CPF/CNPJ or password."),
    ("error.forbidden", "Operação não permitida.", "Operation not allowed."),
    (
        "error.too-many-attempts",
        "Muitas tentativas sem sucesso. Aguarde alguns minutos e tente de novo.",
        "Too many failed attempts. Wait a few minutes and try again.",
    ),
    (
        "error.customer-exists",
        "Já existe um cliente com este CPF/CNPJ. Entre com a sua senha.",
        "A customer with this CPF/CNPJ already exists. Sign in with your password.",
    ),
    (
        "error.individual-account-exists",
        "Você já tem uma conta individual neste banco; abra uma conta conjunta.",
        "You already have an individual account here; open a joint account instead.",
    ),
    ("error.unknown-customer", "{} não é cliente deste banco.", "{} is not a customer of this bank."),
    ("error.account-not-found", "Conta {} não encontrada.", "Account {} not found."),
    ("error.transfer-not-found", "Transferência não encontrada.", "Transfer not found."),
    ("error.insufficient-funds", "Saldo insuficiente na conta {}: disponível {}.", "Insufficient funds in account {}: {} available."),
    (
        "error.not-a-company-account",
        "A conta {} não é uma conta empresarial; pagamentos vão para contas de empresas.",
        "Account {} is not a company account; payments go to company accounts.",
    ),
    (
        "error.invalid-account-kind",
        "Este tipo de conta não é permitido para estes titulares.",
        "This account type is not allowed for these holders.",
    ),
    (
        "error.idempotency-key-reused",
        "Este formulário já foi enviado com outros dados. Recomece a operação.",
        "This form was already sent with other values. Start the operation again.",
    ),
    (
        "error.idempotency-in-progress",
        "Esta operação ainda está sendo processada. Aguarde.",
        "This operation is still being processed. Please wait.",
    ),
    ("error.invalid-idempotency-key", "O formulário expirou. Recomece a operação.", "The form has expired. Start the operation again."),
    ("error.payload-too-large", "O formulário é grande demais.", "The form is too large."),
    ("error.route-not-found", "Página não encontrada.", "Page not found."),
    ("error.method-not-allowed", "Operação não permitida.", "Operation not allowed."),
    (
        "error.unavailable",
        "O serviço está indisponível no momento. Tente de novo.",
        "The service is unavailable right now. Please try again.",
    ),
    (
        "error.internal",
        "Não foi possível concluir a operação; nada foi alterado.",
        "The operation could not be completed; nothing was changed.",
    ),
    // Error pages
    ("notfound.title", "Página não encontrada", "Page not found"),
    ("notfound.text", "O endereço não existe ou não pertence a você.", "This address does not exist or does not belong to you."),
    ("forbidden.title", "Formulário recusado", "Form refused"),
    (
        "forbidden.text",
        "Por segurança, este formulário foi recusado (token de segurança ausente ou inválido). Volte, recarregue a página e tente de novo.",
        "For your security this form was refused (missing or invalid security token). Go back, reload the page and try again.",
    ),
    ("error.page_title", "Algo deu errado", "Something went wrong"),
    ("error.go_home", "Voltar ao início", "Back to the start"),
    // Sign up / sign in
    ("signup.title", "Abra sua conta", "Open your account"),
    (
        "signup.lead",
        "Com CPF você abre uma conta individual; com CNPJ, uma conta empresarial. Leva um minuto.",
        "With a CPF you open an individual account; with a CNPJ, a company account. It takes a minute.",
    ),
    ("signup.submit", "Abrir conta", "Open account"),
    ("signup.have_account", "Já é cliente?", "Already a customer?"),
    ("signin.title", "Entrar", "Sign in"),
    ("signin.lead", "Acesse suas contas com CPF ou CNPJ e senha.", "Access your accounts with your CPF or CNPJ and password."),
    ("signin.submit", "Entrar", "Sign in"),
    ("signin.no_account", "Ainda não é cliente?", "Not a customer yet?"),
    ("signin.signed_out", "Você saiu com segurança.", "You have signed out safely."),
    ("signin.expired", "Entre para continuar.", "Sign in to continue."),
    (
        "signin.idle",
        "Sua sessão foi encerrada por inatividade. Entre de novo para continuar de onde parou.",
        "You were signed out after a while without activity. Sign in again to carry on where you were."
    ),
    (
        "idle.warning",
        "Por segurança, sua sessão será encerrada em instantes por inatividade.",
        "For your security, you will be signed out shortly for inactivity."
    ),
    ("idle.stay", "Continuar conectado", "Stay signed in"),
    // Dashboard
    ("consents.title", "Consentimentos", "Consents"),
    ("consents.revoked", "Consentimento revogado: o outro banco não pode mais debitar a conta.", "Consent revoked: the other bank can no longer debit the account."),
    ("consents.linked_done", "Pronto: a conta {} do banco {} agora pode ser usada aqui.", "Done: account {} at bank {} can now be used here."),
    ("consents.linked", "Contas de outros bancos que você usa aqui", "Accounts at other banks you use here"),
    ("consents.linked_lead", "Autorizadas por você no banco de cada conta.", "Authorised by you at each account's bank."),
    ("consents.linked_none", "Nenhuma ainda.", "None yet."),
    ("consents.granted", "Autorizações que você deu neste banco", "Consents you granted at this bank"),
    ("consents.granted_lead", "Outros bancos que podem debitar suas contas aqui, dentro dos limites. Revogue quando quiser.", "Other banks that may debit your accounts here, within the limits. Revoke at any time."),
    ("consents.granted_none", "Você não autorizou nenhum outro banco.", "You have not authorised any other bank."),
    ("consents.grantee", "Banco autorizado", "Authorised bank"),
    ("consents.used", "Usado", "Used"),
    ("consents.expires", "Vale até", "Valid until"),
    ("consents.status", "Situação", "Status"),
    ("consents.status_active", "Ativo", "Active"),
    ("consents.status_revoked", "Revogado", "Revoked"),
    ("consents.status_expired", "Expirado", "Expired"),
    ("consents.revoke", "Revogar", "Revoke"),
    ("consent.title", "Autorizar outro banco", "Authorise another bank"),
    ("consent.lead", "O banco {} pede para debitar uma conta sua no banco {}.", "Bank {} asks to debit one of your accounts at bank {}."),
    ("consent.explain", "Escolha a conta e os limites. Só transferências que você pedir no outro banco, dentro destes limites, serão debitadas; você pode revogar a qualquer momento em Consentimentos.", "Choose the account and the limits. Only transfers you ask for at the other bank, within these limits, will be debited; you can revoke at any time under Consents."),
    ("consent.account", "Conta", "Account"),
    ("consent.choose_account", "Escolha uma conta", "Choose an account"),
    ("consent.max_per_transfer", "Limite por transferência", "Limit per transfer"),
    ("consent.max_per_transfer_hint", "O máximo de cada débito, em reais.", "The most of each debit, in reais."),
    ("consent.max_total", "Limite total", "Total limit"),
    ("consent.max_total_hint", "A soma de todos os débitos, em reais.", "The sum of all debits, in reais."),
    ("consent.valid_for", "Validade", "Valid for"),
    ("consent.days", "{} dia(s)", "{} day(s)"),
    ("consent.grant", "Autorizar", "Authorise"),
    ("consent.deny", "Recusar", "Refuse"),
    ("consent.error_account", "Escolha a conta.", "Choose the account."),
    ("consent.error_total", "O limite total deve ser ao menos o limite por transferência.", "The total limit must be at least the limit per transfer."),
    ("consent.error_days", "Escolha a validade.", "Choose how long it is valid."),
    ("consent.refused_title", "Não foi possível continuar", "Cannot continue"),
    ("consent.error_client", "O banco {} que pediu a autorização não faz parte do consórcio.", "Bank {} that asked for the consent is not a member of the consortium."),
    ("consent.error_return_to", "O endereço de retorno não é o do banco {} no consórcio; nada foi autorizado.", "The return address is not bank {}'s address in the consortium; nothing was authorised."),
    ("consent.error_state", "O pedido do banco {} está incompleto; volte ao seu banco e comece de novo.", "Bank {}'s request is incomplete; go back to your bank and start again."),
    ("link.action", "Usar uma conta em outro banco", "Use an account at another bank"),
    ("link.title", "Usar uma conta em outro banco", "Use an account at another bank"),
    ("link.lead", "Você será levado ao outro banco para entrar e autorizar este banco a debitar uma conta sua lá, com limites. Depois volta para cá.", "You will be taken to the other bank to sign in and allow this bank to debit an account of yours there, with limits. Then you come back here."),
    ("link.bank", "Banco da conta", "The account's bank"),
    ("link.go", "Continuar no outro banco", "Continue at the other bank"),
    ("link.error_signed_out", "Você não está conectado neste banco. Entre e comece de novo.", "You are not signed in at this bank. Sign in and start again."),
    ("link.error_state", "Este retorno não corresponde a um pedido feito nesta sessão (ou já foi usado). Nada foi vinculado; comece de novo.", "This return does not match a request made in this session (or was already used). Nothing was linked; start again."),
    ("link.error_code", "O código de autorização do banco {} expirou ou já foi usado. Nada foi vinculado; comece de novo.", "Bank {}'s authorisation code expired or was already used. Nothing was linked; start again."),
    ("link.error_unavailable", "O banco {} não confirmou a autorização agora. Tente de novo em instantes.", "Bank {} did not confirm the consent just now. Try again shortly."),
    ("link.denied", "Você recusou a autorização no banco {}. Nada foi vinculado.", "You refused the consent at bank {}. Nothing was linked."),
    ("dashboard.title", "Minhas contas", "My accounts"),
    ("dashboard.welcome", "Bem-vindo, {}", "Welcome, {}"),
    ("dashboard.total", "Saldo neste banco", "Balance at this bank"),
    ("dashboard.no_accounts", "Você ainda não tem contas neste banco.", "You have no accounts at this bank yet."),
    ("dashboard.created", "Conta {} aberta com sucesso.", "Account {} opened."),
    ("dashboard.elsewhere", "Em outros bancos do consórcio", "At other banks of the consortium"),
    (
        "dashboard.elsewhere_lead",
        "Contas com o seu CPF/CNPJ nos outros bancos do anel. Você pode usá-las como origem de uma transferência.",
        "Accounts under your CPF/CNPJ at the ring's other banks. You can use them as sources of a transfer.",
    ),
    ("dashboard.bank", "Banco {}", "Bank {}"),
    (
        "dashboard.bank_unavailable",
        "O banco {} não respondeu agora; suas contas lá não puderam ser mostradas.",
        "Bank {} did not answer just now; your accounts there cannot be shown.",
    ),
    ("dashboard.bank_none", "Você não tem contas no banco {}.", "You have no accounts at bank {}."),
    ("account.number", "Conta {}", "Account {}"),
    ("account.balance", "Saldo", "Balance"),
    ("account.available", "Disponível", "Available"),
    ("account.holders", "Titulares", "Holders"),
    ("account.open", "Ver extrato", "View statement"),
    ("account.bank", "Banco", "Bank"),
    ("kind.individual", "Conta individual", "Individual account"),
    ("kind.joint", "Conta conjunta", "Joint account"),
    ("kind.company", "Conta empresarial", "Company account"),
    ("kind.individual.hint", "Só sua, com o seu CPF (uma por CPF).", "Yours alone, with your CPF (one per CPF)."),
    ("kind.joint.hint", "Compartilhada com outros clientes pessoa física.", "Shared with other individual customers."),
    ("kind.company.hint", "Para a sua empresa (CNPJ).", "For your company (CNPJ)."),
    // Statement
    ("statement.title", "Extrato", "Statement"),
    ("statement.date", "Data", "Date"),
    ("statement.description", "Descrição", "Description"),
    ("statement.amount", "Valor", "Amount"),
    ("statement.balance_after", "Saldo após", "Balance after"),
    ("statement.empty", "Nenhum lançamento ainda.", "No entries yet."),
    ("statement.older", "Lançamentos anteriores", "Older entries"),
    ("statement.newest", "Mais recentes", "Newest"),
    ("statement.pagination", "Páginas do extrato", "Statement pages"),
    ("statement.kind", "Tipo", "Type"),
    ("statement.who", "De/para", "From/to"),
    ("statement.receipt", "Comprovante", "Receipt"),
    ("statement.filter", "Filtrar por data", "Filter by date"),
    ("statement.from", "De", "From"),
    ("statement.until", "Até", "Until"),
    ("statement.apply", "Filtrar", "Filter"),
    ("statement.clear", "Limpar filtro", "Clear filter"),
    ("statement.export", "Baixar extrato", "Download statement"),
    ("statement.csv", "Planilha (CSV)", "Spreadsheet (CSV)"),
    ("statement.ofx", "OFX (apps de finanças)", "OFX (finance apps)"),
    ("statement.empty_range", "Nenhum lançamento nesse período.", "No entries in that period."),
    ("statement.date_invalid", "Data inválida: use dd/mm/aaaa.", "Invalid date: use dd/mm/yyyy."),
    ("statement.date_order", "A data inicial precisa ser anterior à final.", "The start date must come before the end date."),
    ("statement.export_cut", "Extrato cortado nas {} linhas mais recentes; escolha um período menor.", "Statement cut at the newest {} lines; choose a shorter period."),
    ("entry.deposit", "Depósito", "Deposit"),
    ("entry.withdrawal", "Saque", "Withdrawal"),
    ("entry.transfer", "Transferência", "Transfer"),
    ("entry.payment", "Pagamento", "Payment"),
    // New account
    ("new_account.title", "Abrir nova conta", "Open a new account"),
    ("new_account.submit", "Abrir conta", "Open account"),
    // Deposit / withdraw / pay
    ("deposit.title", "Depósito", "Deposit"),
    ("deposit.lead", "O valor entra na conta na hora.", "The money is in the account at once."),
    ("deposit.submit", "Depositar", "Deposit"),
    ("deposit.done", "Depósito de {} na conta {} concluído.", "Deposit of {} into account {} completed."),
    ("withdraw.title", "Saque", "Withdrawal"),
    (
        "withdraw.lead",
        "Retire dinheiro de uma conta sua; o valor não pode passar do saldo disponível.",
        "Take money out of one of your accounts, up to its available balance.",
    ),
    ("withdraw.submit", "Sacar", "Withdraw"),
    ("withdraw.done", "Saque de {} da conta {} concluído.", "Withdrawal of {} from account {} completed."),
    ("pay.title", "Pagamento", "Payment"),
    (
        "pay.lead",
        "Pague uma empresa: a conta de destino precisa ser uma conta empresarial.",
        "Pay a company: the destination must be a company account.",
    ),
    ("pay.submit", "Revisar pagamento", "Review payment"),
    ("no_accounts.text", "Você precisa de uma conta para esta operação.", "You need an account for this operation."),
    // Transfer
    ("transfer.title", "Transferência", "Transfer"),
    (
        "transfer.lead",
        "Junte uma ou mais contas de origem, cada uma com um valor, e envie o total para uma conta de destino.",
        "Combine one or more source accounts, each with an amount, and send the total to one destination account.",
    ),
    ("transfer.sources", "De onde sai o dinheiro", "Where the money comes from"),
    ("transfer.destination", "Para onde vai", "Where it goes"),
    ("transfer.row", "Origem {}", "Source {}"),
    ("transfer.add_row", "Adicionar outra origem", "Add another source"),
    ("transfer.none", "— nenhuma —", "— none —"),
    ("transfer.this_bank", "Banco {} (este)", "Bank {} (this one)"),
    ("field.from_bank", "Banco de origem", "From bank"),
    (
        "transfer.unavailable",
        "Não foi possível consultar suas contas no banco {} agora.",
        "Your accounts at bank {} could not be read just now.",
    ),
    ("transfer.total", "Total", "Total"),
    ("transfer.submit", "Revisar transferência", "Review transfer"),
    ("confirm.title", "Confirme a operação", "Confirm the operation"),
    ("confirm.lead", "Confira os dados. Nada foi movimentado ainda.", "Check the details. No money has moved yet."),
    ("confirm.from", "Sai de", "From"),
    ("confirm.to", "Vai para", "To"),
    ("confirm.submit", "Confirmar e enviar", "Confirm and send"),
    ("confirm.bank_account", "Banco {} · conta {}", "Bank {} · account {}"),
    // Transfer status
    ("status.title", "Comprovante", "Receipt"),
    ("status.id", "Identificador", "Reference"),
    ("status.status", "Situação", "Status"),
    ("status.kind", "Tipo", "Type"),
    ("status.created", "Data e hora", "Date and time"),
    ("status.reason", "Motivo", "Reason"),
    ("status.committed", "Concluída", "Completed"),
    ("status.pending", "Em processamento", "Processing"),
    ("status.aborted", "Cancelada", "Cancelled"),
    (
        "status.pending_note",
        "Esta página se atualiza sozinha até a operação terminar.",
        "This page updates itself until the operation is final.",
    ),
    ("status.new_transfer", "Nova transferência", "New transfer"),
    // Ring monitor
    ("ring.title", "Monitor do anel", "Ring monitor"),
    (
        "ring.lead",
        "O anel de token do consórcio visto do banco {}; atualiza sozinho.",
        "The consortium's token ring as bank {} sees it; updates live.",
    ),
    ("ring.signin_title", "Monitor do anel: acesso de operador", "Ring monitor: operator access"),
    (
        "ring.signin_lead",
        "O monitor é para os operadores do banco. Informe o segredo de administração deste banco.",
        "The monitor is for the bank's operators. Enter this bank's admin secret.",
    ),
    ("ring.secret", "Segredo de administração", "Admin secret"),
    ("ring.signin_submit", "Abrir o monitor", "Open the monitor"),
    ("ring.signout", "Sair do monitor", "Leave the monitor"),
    ("ring.wrong_secret", "Segredo incorreto.", "Wrong secret."),
    (
        "ring.too_many",
        "Muitas tentativas com segredo errado; aguarde alguns minutos.",
        "Too many attempts with a wrong secret; wait a few minutes.",
    ),
    (
        "ring.no_secret",
        "Este banco não tem segredo de administração configurado; o monitor está fechado.",
        "This bank has no admin secret configured; the monitor is closed.",
    ),
    ("ring.svg_title", "O anel de bancos", "The ring of banks"),
    (
        "ring.svg_desc",
        "Os membros em círculo, setas no anel vivo; com o token: {}",
        "Members on a circle, arrows along the live ring; token holder: {}",
    ),
    ("ring.holder", "Com o token", "Token holder"),
    ("ring.in_transit", "em trânsito", "in transit"),
    ("ring.epoch", "Época", "Epoch"),
    ("ring.rate", "Rotação", "Rotation"),
    ("ring.live_ring", "Anel vivo", "Live ring"),
    ("ring.in_doubt", "Transferências em dúvida", "In-doubt transfers"),
    ("ring.updated", "Atualizado", "Updated"),
    ("ring.members", "Membros", "Members"),
    ("ring.bank", "Banco", "Bank"),
    ("ring.state", "Estado", "State"),
    ("ring.lease", "Concessão restante", "Lease left"),
    ("ring.grants", "Vezes com o token", "Grants"),
    ("ring.last_holder", "Último detentor", "Last holder"),
    ("ring.this_bank", "este", "this one"),
    ("ring.unreachable", "sem resposta", "unreachable"),
    ("ring.regenerations", "Regenerações recentes", "Recent regenerations"),
    ("ring.gap", "Tempo sem token", "Time without a token"),
    ("ring.seen_by", "Vista por", "Seen by"),
    ("ring.faults", "Falhas ativas", "Active faults"),
    ("ring.no_faults", "Nenhuma falha injetada.", "No injected faults."),
    ("ring.fault", "Falha", "Fault"),
    ("ring.remaining", "Restante", "Remaining"),
    ("ring.none", "Nenhuma.", "None."),
    ("ring.coordinator", "Coordenador", "Coordinator"),
    ("ring.participants", "Participantes", "Participants"),
    ("ring.recent", "Transferências entre bancos recentes", "Recent cross-bank transfers"),
    ("ring.role", "Papel", "Role"),
    ("ring.phase.idle", "sem o token", "idle"),
    ("ring.phase.claiming", "pedindo confirmação", "claiming"),
    ("ring.phase.holding", "com o token", "holding"),
    ("ring.phase.passing", "passando o token", "passing"),
    ("ring.phase.candidate", "regenerando o token", "regenerating"),
    ("ring.status.pending", "em processamento", "pending"),
    ("ring.status.prepared", "preparada (em dúvida)", "prepared (in doubt)"),
    ("ring.status.committed", "concluída", "committed"),
    ("ring.status.aborted", "cancelada", "aborted"),
    ("ring.fault.partition", "partição de rede", "network partition"),
    ("ring.fault.crash-at", "queda programada", "crash armed"),
    ("ring.fault.delay", "atraso de rede", "network delay"),
    ("ring.fault.loss", "perda de mensagens", "message loss"),
    ("ring.fault.duplicate", "mensagens duplicadas", "duplicated messages"),
    ("ring.fault.drop-token", "descarte do token", "token drop"),
    ("ring.fault.pause", "pausa", "pause"),
    ("ring.fault.unreachable", "não responde (pausado, parado ou isolado)", "not answering (paused, stopped or cut off)"),
    ("ring.role.coordinator", "coordenador", "coordinator"),
    ("ring.role.participant", "participante", "participant"),
    ("ring.legend_holder", "com o token", "holds the token"),
    ("ring.legend_live", "no anel vivo", "in the live ring"),
    ("ring.legend_down", "fora do anel", "out of the ring"),
    // The review step's own checks
    ("confirm.recipient", "Quem recebe", "Recipient"),
    (
        "error.review_insufficient",
        "A conta {} tem {} disponíveis: o valor é maior que isso.",
        "Account {} has {} available: the amount is more than that."
    ),
    ("error.review_no_account", "A conta {} não existe no banco {}.", "Account {} does not exist at bank {}."),
    (
        "error.review_not_company",
        "A conta {} ({}) não é de empresa: pagamentos vão só para contas de empresas; para pessoas, use Transferir.",
        "Account {} ({}) is not a company account: payments go to companies only; for people, use Transfer."
    ),
    // Why a transfer was cancelled: stable problem types (ringbank_twopc::reason::Problem)
    ("problem.at_bank", "Banco {}: {}", "Bank {}: {}"),
    (
        "problem.insufficient-funds",
        "a conta {} tem {} disponíveis; a transferência pede {}.",
        "account {} has {} available; the transfer asks for {}."
    ),
    ("problem.account-not-found", "a conta {} não existe neste banco.", "account {} does not exist at this bank."),
    (
        "problem.not-a-company-account",
        "a conta {} não é de empresa; pagamentos vão só para contas de empresas.",
        "account {} is not a company account; payments go to company accounts only."
    ),
    (
        "problem.no-consent",
        "o titular da conta {} não autorizou este banco a debitá-la.",
        "the holder of account {} did not allow this bank to debit it."
    ),
    (
        "problem.consent-refused",
        "a autorização de débito não vale para esta transferência (revogada, vencida ou de outra conta).",
        "the debit authorisation does not cover this transfer (revoked, expired or for another account)."
    ),
    (
        "problem.consent-per-transfer-limit",
        "a autorização permite até {} por transferência; a transferência pede {}.",
        "the authorisation allows at most {} per transfer; the transfer asks for {}."
    ),
    (
        "problem.consent-total-limit",
        "a autorização tem {} restantes de um total de {}; a transferência pede {}.",
        "the authorisation has {} left of its total of {}; the transfer asks for {}."
    ),
    (
        "problem.limit-exceeded",
        "o limite {} da conta {} é {}; restam {} e a transferência pede {}.",
        "the {} limit of account {} is {}; {} left and the transfer asks for {}."
    ),
    (
        "problem.limit-exceeded.customer",
        "o limite {} do cliente {} (todas as suas contas neste banco) é {}; restam {} e a transferência pede {}.",
        "the {} limit of customer {} (all their accounts at that bank) is {}; {} left and the transfer asks for {}."
    ),
    ("problem.no-answer", "não respondeu a tempo; nada foi debitado.", "did not answer in time; nothing was debited."),
    (
        "problem.presumed-abort",
        "o banco de origem reiniciou antes de decidir; a transferência foi cancelada e nada foi debitado.",
        "the origin bank restarted before deciding; the transfer was cancelled and nothing was debited."
    ),
    ("problem.other", "a operação foi recusada; nada foi debitado.", "the operation was refused; nothing was debited."),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_every_key_used_in_templates_exists() {
        let mut seen = std::collections::HashSet::new();
        for (key, pt, en) in TABLE {
            assert!(seen.insert(*key), "duplicate key {key}");
            assert_eq!(pt.matches("{}").count(), en.matches("{}").count(), "placeholders differ for {key}");
        }
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/web/templates");
        for entry in std::fs::read_dir(dir).expect("templates dir") {
            let text = std::fs::read_to_string(entry.expect("entry").path()).expect("template");
            for piece in text.split(".get(\"").skip(1).chain(text.split(".fill1(\"").skip(1)) {
                let key = piece.split('"').next().unwrap_or("");
                assert!(TABLE_BY_KEY.contains_key(key), "template uses missing key {key:?}");
            }
        }
    }

    #[test]
    fn fill_replaces_placeholders_in_order() {
        let tr = Tr { lang: Lang::En };
        assert_eq!(tr.fill("error.insufficient-funds", &["12", "R$ 1,00"]), "Insufficient funds in account 12: R$ 1,00 available.");
    }
}
