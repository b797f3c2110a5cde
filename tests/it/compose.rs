//! The Docker deployment, statically (tests/docker/run.sh runs it for real): every bank service
//! of docker-compose.yml (both profiles), with the image's defaults from the Dockerfile and the
//! compose file's environment, is accepted by `ringbank serve --check-config`; peers and
//! database URLs name services that exist; ports are published on loopback by default and no
//! secret has a default. The YAML is read by a small parser for the subset compose files use
//! here (block and flow mappings, flow sequences, anchors, aliases and `<<` merges).

use std::collections::HashMap;

const ADMIN_SECRET_VALUE: &str = "compose-admin-secret-0123456789";
const DB_PASSWORD_VALUE: &str = "compose-db-password-0123456789";

#[tokio::test]
async fn compose_services_pass_check_config() {
    let root = env!("CARGO_MANIFEST_DIR");
    let compose = std::fs::read_to_string(format!("{root}/docker-compose.yml")).expect("docker-compose.yml");
    let dockerfile = std::fs::read_to_string(format!("{root}/Dockerfile")).expect("Dockerfile");
    let document = parse(&compose);
    let services = document.get("services").and_then(Yaml::as_map).expect("a services mapping");
    let names: Vec<&str> = services.iter().map(|(name, _)| name.as_str()).collect();
    // The secrets docker/new-env.sh writes (two, and a key pair per bank); the compose file
    // requires each (`${VAR:?...}`).
    let keys: Vec<(String, ringbank_domain::SecretKey)> =
        ["A", "B", "C"].iter().map(|b| (b.to_string(), ringbank_domain::SecretKey::from_seed(rand::random()))).collect();
    let key_texts: Vec<(String, String, String, String)> = keys
        .iter()
        .map(|(bank, key)| {
            (format!("RINGBANK_SECRET_KEY_{bank}"), key.to_secret_text(), format!("RINGBANK_PUBLIC_KEY_{bank}"), key.public().to_string())
        })
        .collect();
    let mut variables = HashMap::from([("RINGBANK_ADMIN_SECRET", ADMIN_SECRET_VALUE), ("RINGBANK_DB_PASSWORD", DB_PASSWORD_VALUE)]);
    for (secret_name, secret, public_name, public) in &key_texts {
        variables.insert(secret_name.as_str(), secret.as_str());
        variables.insert(public_name.as_str(), public.as_str());
    }
    let image_env = dockerfile_env(&dockerfile);
    let mut banks = 0;
    let mut on_postgres = 0;
    for (name, service) in services {
        let environment = service.get("environment").and_then(Yaml::as_map).cloned().unwrap_or_default();
        if !environment.iter().any(|(key, _)| key == "RINGBANK_ID") {
            continue;
        }
        banks += 1;
        let networks = match service.get("networks") {
            Some(Yaml::Seq(items)) => items.iter().filter_map(Yaml::as_str).collect::<Vec<_>>(),
            _ => Vec::new(),
        };
        assert!(networks.contains(&"ring"), "{name} is not on the ring network");
        let mut env: Vec<(String, String)> = image_env.clone();
        for (key, value) in &environment {
            let value = interpolate(value.as_str().unwrap_or_else(|| panic!("{name}: {key} is not a scalar")), &variables);
            env.push((key.clone(), value));
        }
        // Published on loopback unless RINGBANK_PUBLISH says otherwise: the admin API is behind a port.
        if let Some(Yaml::Seq(ports)) = service.get("ports") {
            for port in ports {
                let port = interpolate(port.as_str().expect("a port string"), &variables);
                assert!(port.starts_with("127.0.0.1:"), "{name} publishes {port} beyond loopback by default");
            }
        }
        let get = |key: &str| env.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        for peer in get("RINGBANK_PEERS").unwrap_or_default().split(',') {
            let host = peer.split("://").nth(1).and_then(|rest| rest.split(':').next()).unwrap_or("");
            assert!(names.contains(&host), "{name}: peer {peer} names no service of the compose file");
        }
        if let Some(url) = get("RINGBANK_DATABASE_URL") {
            on_postgres += 1;
            let host = url.split('@').nth(1).and_then(|rest| rest.split(':').next()).unwrap_or("");
            assert!(names.contains(&host), "{name}: database host {host:?} is no service of the compose file");
            let depends = service.get("depends_on").and_then(Yaml::as_map).cloned().unwrap_or_default();
            assert!(depends.iter().any(|(k, _)| k == host), "{name} must depend on its database {host}");
        }
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_ringbank"))
            .args(["serve", "--check-config"])
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .await
            .expect("run ringbank");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{name} rejected: {stderr}{stdout}");
        assert!(!stdout.contains(ADMIN_SECRET_VALUE), "secrets printed: {stdout}");
        for (_, secret, _, _) in &key_texts {
            assert!(!stdout.contains(&secret["ed25519-secret:".len()..]), "a secret key printed: {stdout}");
        }
        let id = get("RINGBANK_ID").expect("an id");
        let own = &keys.iter().find(|(bank, _)| *bank == id).expect("a key for the bank").1;
        assert!(stdout.contains(&format!("\"public_key\": \"{}\"", own.public())), "{name}: {stdout}");
        assert!(!stdout.contains(DB_PASSWORD_VALUE), "database password printed: {stdout}");
    }
    assert_eq!(banks, 6, "three banks on SQLite and three on PostgreSQL");
    assert_eq!(on_postgres, 3);
    // No secret has a default: compose refuses to start until docker/new-env.sh has made them.
    for name in variables.keys() {
        assert!(!compose.contains(&format!("${{{name}:-")), "{name} has a default in docker-compose.yml");
    }
}

#[test]
fn dockerignore_keeps_build_output_and_secrets_out_of_images() {
    let root = env!("CARGO_MANIFEST_DIR");
    let ignore = std::fs::read_to_string(format!("{root}/.dockerignore")).expect(".dockerignore");
    let lines: Vec<&str> = ignore.lines().map(str::trim).collect();
    for pattern in ["**/target", "data/", ".git", ".env"] {
        assert!(lines.contains(&pattern), ".dockerignore lacks {pattern}");
    }
    let gitignore = std::fs::read_to_string(format!("{root}/.gitignore")).expect(".gitignore");
    assert!(gitignore.lines().any(|line| line.trim() == ".env"), ".gitignore lacks .env");
}

#[tokio::test]
async fn check_config_rejects_bad_values_with_exit_2() {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_ringbank"))
        .args(["serve", "--check-config", "--id", "A", "--max-legs", "1", "--database-url", "mysql://x"])
        .output()
        .await
        .expect("run ringbank");
    assert_eq!(output.status.code(), Some(2), "{}", String::from_utf8_lossy(&output.stderr));
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_ringbank"))
        .args(["serve", "--check-config", "--id", "A", "--database-url", "mysql://x"])
        .output()
        .await
        .expect("run ringbank");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--database-url"));
}

/// The `ENV` defaults of the runtime image (the last stage of the Dockerfile).
fn dockerfile_env(dockerfile: &str) -> Vec<(String, String)> {
    let joined = dockerfile.replace("\\\n", " ");
    let last_stage = joined.rsplit("\nFROM ").next().unwrap_or("");
    last_stage
        .lines()
        .filter_map(|line| line.strip_prefix("ENV "))
        .flat_map(|line| line.split_whitespace())
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Compose's `${VAR}`, `${VAR:-default}` and `${VAR:?error}`.
fn interpolate(text: &str, variables: &HashMap<&str, &str>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("closing brace") + start;
        let inner = &rest[start + 2..end];
        let (name, fallback) = match (inner.split_once(":-"), inner.split_once(":?")) {
            (Some((name, default)), _) => (name, Some(default)),
            (None, Some((name, _))) => (name, None),
            (None, None) => (inner, Some("")),
        };
        match (variables.get(name), fallback) {
            (Some(value), _) => out.push_str(value),
            (None, Some(default)) => out.push_str(default),
            (None, None) => panic!("compose requires {name}"),
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

#[derive(Clone, Debug)]
enum Yaml {
    Str(String),
    Seq(Vec<Yaml>),
    Map(Vec<(String, Yaml)>),
}

impl Yaml {
    fn get(&self, key: &str) -> Option<&Yaml> {
        self.as_map()?.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
    fn as_map(&self) -> Option<&Vec<(String, Yaml)>> {
        match self {
            Yaml::Map(entries) => Some(entries),
            _ => None,
        }
    }
    fn as_str(&self) -> Option<&str> {
        match self {
            Yaml::Str(s) => Some(s),
            _ => None,
        }
    }
}

struct Parser {
    lines: Vec<(usize, String)>,
    next: usize,
    anchors: HashMap<String, Yaml>,
}

fn parse(text: &str) -> Yaml {
    let lines = text
        .lines()
        .map(strip_comment)
        .filter(|line| !line.trim().is_empty())
        .map(|line| (line.len() - line.trim_start().len(), line.trim().to_string()))
        .collect();
    let mut parser = Parser { lines, next: 0, anchors: HashMap::new() };
    parser.block(0)
}

fn strip_comment(line: &str) -> &str {
    let mut quoted = false;
    let bytes = line.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b'#' if !quoted && (i == 0 || bytes[i - 1] == b' ') => return &line[..i],
            _ => {}
        }
    }
    line
}

/// Builds a mapping from entries, `<<` merges giving way to explicit keys.
fn mapping(entries: Vec<(String, Yaml)>) -> Yaml {
    let mut explicit: Vec<(String, Yaml)> = Vec::new();
    let mut merged: Vec<(String, Yaml)> = Vec::new();
    for (key, value) in entries {
        if key == "<<" {
            merged.extend(value.as_map().expect("<< merges a mapping").iter().cloned());
        } else {
            explicit.push((key, value));
        }
    }
    for (key, value) in merged {
        if !explicit.iter().any(|(k, _)| *k == key) {
            explicit.push((key, value));
        }
    }
    Yaml::Map(explicit)
}

impl Parser {
    /// A block mapping whose keys sit at `indent`.
    fn block(&mut self, indent: usize) -> Yaml {
        let mut entries = Vec::new();
        while let Some((line_indent, text)) = self.lines.get(self.next).cloned() {
            if line_indent < indent {
                break;
            }
            assert_eq!(line_indent, indent, "unexpected indentation: {text}");
            assert!(!text.starts_with("- "), "block sequences are not supported: {text}");
            self.next += 1;
            let (key, rest) = match text.split_once(": ") {
                Some((key, rest)) => (key.to_string(), rest.trim().to_string()),
                None => (text.trim_end_matches(':').to_string(), String::new()),
            };
            let (anchor, rest) = match rest.strip_prefix('&') {
                Some(after) => {
                    let (name, rest) = after.split_once(' ').unwrap_or((after, ""));
                    (Some(name.to_string()), rest.trim().to_string())
                }
                None => (None, rest),
            };
            let value = if rest.is_empty() {
                match self.lines.get(self.next) {
                    Some((deeper, _)) if *deeper > indent => self.block(*deeper),
                    _ => Yaml::Str(String::new()),
                }
            } else if !rest.starts_with(['[', '{', '*', '"']) {
                Yaml::Str(rest.clone())
            } else {
                let mut position = 0;
                let value = self.flow(rest.as_bytes(), &mut position);
                assert_eq!(position, rest.len(), "trailing text in {text:?}");
                value
            };
            if let Some(anchor) = anchor {
                self.anchors.insert(anchor, value.clone());
            }
            entries.push((unquote(&key), value));
        }
        mapping(entries)
    }

    /// A flow value (scalar, alias, `[...]` or `{...}`) starting at `*at`.
    fn flow(&self, text: &[u8], at: &mut usize) -> Yaml {
        skip_spaces(text, at);
        match text.get(*at) {
            Some(b'[') => {
                *at += 1;
                let mut items = Vec::new();
                loop {
                    skip_spaces(text, at);
                    if text.get(*at) == Some(&b']') {
                        *at += 1;
                        return Yaml::Seq(items);
                    }
                    items.push(self.flow(text, at));
                    skip_spaces(text, at);
                    if text.get(*at) == Some(&b',') {
                        *at += 1;
                    }
                }
            }
            Some(b'{') => {
                *at += 1;
                let mut entries = Vec::new();
                loop {
                    skip_spaces(text, at);
                    if text.get(*at) == Some(&b'}') {
                        *at += 1;
                        return mapping(entries);
                    }
                    let key = scalar(text, at, b":");
                    assert_eq!(text.get(*at), Some(&b':'), "expected ':' in a flow mapping");
                    *at += 1;
                    let value = self.flow(text, at);
                    entries.push((key, value));
                    skip_spaces(text, at);
                    if text.get(*at) == Some(&b',') {
                        *at += 1;
                    }
                }
            }
            Some(b'*') => {
                *at += 1;
                let name = scalar(text, at, b",]}");
                self.anchors.get(&name).cloned().unwrap_or_else(|| panic!("unknown alias *{name}"))
            }
            _ => Yaml::Str(scalar(text, at, b",]}")),
        }
    }
}

fn skip_spaces(text: &[u8], at: &mut usize) {
    while text.get(*at) == Some(&b' ') {
        *at += 1;
    }
}

/// A quoted or plain scalar, a plain one ending before any of `stops`.
fn scalar(text: &[u8], at: &mut usize, stops: &[u8]) -> String {
    skip_spaces(text, at);
    if text.get(*at) == Some(&b'"') {
        let start = *at;
        *at += 1;
        while text.get(*at).is_some_and(|b| *b != b'"') {
            *at += if text[*at] == b'\\' { 2 } else { 1 };
        }
        *at += 1;
        return unquote(std::str::from_utf8(&text[start..*at]).expect("utf-8"));
    }
    let start = *at;
    while text.get(*at).is_some_and(|b| !stops.contains(b)) {
        *at += 1;
    }
    std::str::from_utf8(&text[start..*at]).expect("utf-8").trim().to_string()
}

fn unquote(text: &str) -> String {
    match text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        Some(inner) => inner.replace("\\\"", "\"").replace("\\\\", "\\"),
        None => text.to_string(),
    }
}
