//! Reads the Gradient installer's Terraform: the module block that installs Gradient, with
//! its variables resolved the way Terraform resolves them (variable defaults, `TF_VAR_*`,
//! `terraform.tfvars`, `*.auto.tfvars`, then each `--var-file` in order) and `file("…")`
//! read relative to the directory of the `.tf` file.
//!
//! Only the attributes wildcert needs are evaluated; the rest of the module (cluster keys,
//! node lists) is never looked at. Values of the attributes that hold secrets never reach
//! an error message: their evaluation errors name the attribute and the variables it needs,
//! not what the expression contains.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hcl::Expression;
use hcl::eval::{Context, Evaluate};

use crate::config::Secret;

/// The installer's variables wildcert takes over.
const DOMAIN: &str = "domain";
const DNS_NAME: &str = "letsencrypt_dns_name";
const DNS_SETTINGS: &str = "letsencrypt_dns_settings";
const TLS_CERT: &str = "tls_cert";
const TLS_KEY: &str = "tls_key";
const ARTIFACTS_PATH: &str = "artifacts_path";
const ACCESS_KEY_ID: &str = "artifacts_access_key_id";
const SECRET_ACCESS_KEY: &str = "artifacts_secret_access_key";
const ENDPOINT: &str = "artifacts_object_storage_endpoint";
const REGION: &str = "aws_region";

/// Attributes that mark a module block as the Gradient installer's.
const MARKERS: &[&str] = &[DNS_NAME, DNS_SETTINGS, TLS_CERT, ARTIFACTS_PATH];

/// Why the installer's settings cannot be taken from the Terraform files; every message names
/// the file or the `module.NAME.attribute` and never quotes a secret value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TerraformError {
    /// A Terraform or variable file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The `.tf` file (or `.tfvars` file) read.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The message is the parser's, without the source line (which may hold a secret).
    #[error("{path}:{line}:{column}: HCL syntax error: {message}")]
    Syntax {
        /// The `.tf` file (or `.tfvars` file) read.
        path: PathBuf,
        /// Line of the error (1-based).
        line: usize,
        /// Column of the error (1-based).
        column: usize,
        /// The parser's message, without the source line.
        message: String,
    },
    /// No module block carries the installer's settings: the wrong `.tf` file was named.
    #[error(
        "{path}: no module block with the Gradient installer's settings (letsencrypt_dns_name, tls_cert, artifacts_path); name the file that holds `module \"...\" {{ source = \"...gradient-installer...\" }}`"
    )]
    NoModule {
        /// The `.tf` file (or `.tfvars` file) read.
        path: PathBuf,
    },
    /// More than one block looks like the installer's: `--module` must choose.
    #[error("{path}: several module blocks look like the Gradient installer ({}); pick one with --module NAME", names.join(", "))]
    SeveralModules {
        /// The `.tf` file (or `.tfvars` file) read.
        path: PathBuf,
        /// The candidate blocks' names, to pick from.
        names: Vec<String>,
    },
    /// `--module NAME` names no module block of the file.
    #[error("{path}: no module \"{name}\" (found: {})", if found.is_empty() { "none".to_string() } else { found.join(", ") })]
    ModuleNotFound {
        /// The `.tf` file (or `.tfvars` file) read.
        path: PathBuf,
        /// The name given with `--module`.
        name: String,
        /// The module blocks the file does have.
        found: Vec<String>,
    },
    /// An attribute uses a variable that no default, tfvars file or `TF_VAR_` gives.
    #[error(
        "module.{module}.{attribute} uses var.{variable}, which has no value: give it in a .tfvars file (--var-file FILE) or as TF_VAR_{variable}"
    )]
    MissingVariable {
        /// The installer module's block name.
        module: String,
        /// The module attribute being evaluated, e.g. `tls_cert`.
        attribute: String,
        /// The variable without a value.
        variable: String,
    },
    /// An expression `init` does not evaluate (only literals, variables, `file()` and string
    /// templates are).
    #[error("module.{module}.{attribute}: cannot evaluate {why}")]
    Evaluate {
        /// The installer module's block name.
        module: String,
        /// The module attribute being evaluated, e.g. `tls_cert`.
        attribute: String,
        /// What it could not evaluate.
        why: String,
    },
    /// A `file("...")` the attribute reads cannot be read (paths are relative to the `.tf` file).
    #[error("module.{module}.{attribute}: file(\"{}\"): {source}", path.display())]
    File {
        /// The installer module's block name.
        module: String,
        /// The module attribute being evaluated, e.g. `tls_cert`.
        attribute: String,
        /// The file `file()` names, resolved against the `.tf` file's directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// An attribute evaluated to the wrong kind of value (e.g. a list where a string is needed).
    #[error("module.{module}.{attribute}: {message}")]
    Type {
        /// The installer module's block name.
        module: String,
        /// The module attribute being evaluated, e.g. `tls_cert`.
        attribute: String,
        /// What kind of value was expected.
        message: String,
    },
}

/// A value that came from a file (`file("…")`, resolved) or was written inline.
#[derive(Debug, Clone)]
pub struct Supplied {
    /// The PEM text (a key is secret, so it is held as one either way).
    pub contents: Secret,
    /// The file it was read from, when it was read with `file()`.
    pub path: Option<PathBuf>,
}

/// What the installer's module block says, evaluated. Every value that is a secret (the
/// bucket's secret key, every DNS setting until the provider's registry says which are
/// secrets, the TLS key) is held as a [`Secret`].
#[derive(Debug, Clone, Default)]
pub struct Installer {
    /// The module block's name (`module "gradient_metal"`).
    pub module: String,
    /// `domain`: the certificate covers `*.DOMAIN` and `DOMAIN`.
    pub domain: Option<String>,
    /// `letsencrypt_dns_name`: the lego provider code.
    pub dns_name: Option<String>,
    /// `letsencrypt_dns_settings`: lego's variables for that provider, all held as secrets.
    pub dns_settings: BTreeMap<String, Secret>,
    /// `tls_cert`: a supplied full chain, used instead of ACME.
    pub tls_cert: Option<Supplied>,
    /// `tls_key`: the key of `tls_cert`.
    pub tls_key: Option<Supplied>,
    /// `artifacts_path`: `s3://BUCKET[/PATH]`, the bucket and prefix.
    pub artifacts_path: Option<String>,
    /// `artifacts_access_key_id`.
    pub access_key_id: Option<String>,
    /// `artifacts_secret_access_key`.
    pub secret_access_key: Option<Secret>,
    /// `artifacts_object_storage_endpoint`: for non-AWS storage.
    pub endpoint: Option<String>,
    /// `aws_region`.
    pub region: Option<String>,
}

/// Reads `path` (a `.tf` file), its directory's variable declarations and tfvars files, then
/// `var_files` in order, and evaluates the installer module's settings. `module` picks the
/// block by name when the file has several candidates.
pub fn read(path: &Path, var_files: &[PathBuf], module: Option<&str>) -> Result<Installer, TerraformError> {
    let body = parse_file(path)?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let block = pick_module(path, &body, module)?;
    let name = block.labels().first().map(|l| l.as_str().to_string()).unwrap_or_default();
    let vars = variables(path, &dir, &body, var_files)?;

    let mut ctx = Context::new();
    ctx.declare_var("var", hcl::Value::Object(vars.clone().into_iter().collect()));
    let dir_text = dir.display().to_string();
    let path_object: hcl::Map<String, hcl::Value> = [
        ("module".to_string(), hcl::Value::from(dir_text.clone())),
        ("root".to_string(), hcl::Value::from(dir_text)),
        (
            "cwd".to_string(),
            hcl::Value::from(std::env::current_dir().unwrap_or_default().display().to_string()),
        ),
    ]
    .into_iter()
    .collect();
    ctx.declare_var("path", hcl::Value::Object(path_object));

    let eval = Evaluator { module: &name, dir: &dir, ctx: &ctx, vars: &vars };
    let attrs: BTreeMap<&str, &Expression> = block.body().attributes().map(|a| (a.key(), a.expr())).collect();
    let get = |key: &str| attrs.get(key).copied();

    let mut out = Installer { module: name.clone(), ..Installer::default() };
    out.domain = get(DOMAIN).map(|e| eval.text(DOMAIN, e)).transpose()?.filter(|s| !s.is_empty());
    out.dns_name = get(DNS_NAME).map(|e| eval.text(DNS_NAME, e)).transpose()?.filter(|s| !s.is_empty());
    if let Some(expr) = get(DNS_SETTINGS) {
        out.dns_settings = eval.settings(DNS_SETTINGS, expr)?;
    }
    out.tls_cert = get(TLS_CERT).map(|e| eval.supplied(TLS_CERT, e)).transpose()?.flatten();
    out.tls_key = get(TLS_KEY).map(|e| eval.supplied(TLS_KEY, e)).transpose()?.flatten();
    out.artifacts_path =
        get(ARTIFACTS_PATH).map(|e| eval.text(ARTIFACTS_PATH, e)).transpose()?.filter(|s| !s.is_empty());
    out.access_key_id =
        get(ACCESS_KEY_ID).map(|e| eval.text(ACCESS_KEY_ID, e)).transpose()?.filter(|s| !s.is_empty());
    out.secret_access_key = get(SECRET_ACCESS_KEY)
        .map(|e| eval.secret(SECRET_ACCESS_KEY, e))
        .transpose()?
        .filter(|s| !s.expose().is_empty());
    out.endpoint = get(ENDPOINT).map(|e| eval.text(ENDPOINT, e)).transpose()?.filter(|s| !s.is_empty());
    out.region = get(REGION).map(|e| eval.text(REGION, e)).transpose()?.filter(|s| !s.is_empty());
    Ok(out)
}

fn parse_file(path: &Path) -> Result<hcl::Body, TerraformError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| TerraformError::Read { path: path.to_owned(), source })?;
    parse_text(path, &text)
}

fn parse_text(path: &Path, text: &str) -> Result<hcl::Body, TerraformError> {
    hcl::parse(text).map_err(|e| match e {
        hcl::Error::Parse(p) => TerraformError::Syntax {
            path: path.to_owned(),
            line: p.location().line(),
            column: p.location().column(),
            message: p.message().to_string(),
        },
        other => {
            TerraformError::Syntax { path: path.to_owned(), line: 0, column: 0, message: other.to_string() }
        }
    })
}

fn pick_module<'a>(
    path: &Path,
    body: &'a hcl::Body,
    wanted: Option<&str>,
) -> Result<&'a hcl::Block, TerraformError> {
    let modules: Vec<&hcl::Block> = body.blocks().filter(|b| b.identifier() == "module").collect();
    let label = |b: &hcl::Block| b.labels().first().map(|l| l.as_str().to_string()).unwrap_or_default();
    if let Some(wanted) = wanted {
        return modules.iter().copied().find(|b| label(b) == wanted).ok_or_else(|| {
            TerraformError::ModuleNotFound {
                path: path.to_owned(),
                name: wanted.to_string(),
                found: modules.iter().map(|b| label(b)).collect(),
            }
        });
    }
    let candidates: Vec<&hcl::Block> =
        modules.into_iter().filter(|b| b.body().attributes().any(|a| MARKERS.contains(&a.key()))).collect();
    match candidates.as_slice() {
        [] => Err(TerraformError::NoModule { path: path.to_owned() }),
        [one] => Ok(one),
        many => Err(TerraformError::SeveralModules {
            path: path.to_owned(),
            names: many.iter().map(|b| label(b)).collect(),
        }),
    }
}

/// The variables' values, lowest precedence first: `variable` defaults from every `.tf` file
/// of the directory, `TF_VAR_<name>`, `terraform.tfvars`, `*.auto.tfvars` (sorted), then
/// `var_files` in order.
fn variables(
    path: &Path,
    dir: &Path,
    body: &hcl::Body,
    var_files: &[PathBuf],
) -> Result<BTreeMap<String, hcl::Value>, TerraformError> {
    let empty = Context::new();
    let mut values = BTreeMap::new();
    let mut declared = Vec::new();
    let mut bodies = vec![(path.to_owned(), body.clone())];
    let mut siblings: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    siblings.sort();
    for sibling in siblings.iter().filter(|p| p.extension().is_some_and(|e| e == "tf")) {
        if same_file(sibling, path) {
            continue;
        }
        bodies.push((sibling.clone(), parse_file(sibling)?));
    }
    for (file, body) in &bodies {
        for block in body.blocks().filter(|b| b.identifier() == "variable") {
            let Some(name) = block.labels().first().map(|l| l.as_str().to_string()) else { continue };
            declared.push(name.clone());
            if let Some(default) = block.body().attributes().find(|a| a.key() == "default") {
                let value = default.expr().evaluate(&empty).map_err(|e| TerraformError::Evaluate {
                    module: "(variables)".into(),
                    attribute: format!("variable \"{name}\" default in {}", file.display()),
                    why: e.to_string(),
                })?;
                values.insert(name, value);
            }
        }
    }
    for name in &declared {
        if let Ok(value) = std::env::var(format!("TF_VAR_{name}")) {
            values.insert(name.clone(), hcl::Value::from(value));
        }
    }
    let mut tfvars: Vec<PathBuf> = Vec::new();
    let auto = dir.join("terraform.tfvars");
    if auto.is_file() {
        tfvars.push(auto);
    }
    tfvars.extend(siblings.iter().filter(|p| p.to_string_lossy().ends_with(".auto.tfvars")).cloned());
    tfvars.extend(var_files.iter().cloned());
    for file in tfvars {
        let body = parse_file(&file)?;
        for attr in body.attributes() {
            // A tfvars file holds constants; its values may be secrets, so errors do not
            // repeat them.
            let value = attr.expr().evaluate(&empty).map_err(|_| TerraformError::Evaluate {
                module: "(variables)".into(),
                attribute: format!("{} in {}", attr.key(), file.display()),
                why: "the value: a .tfvars file holds plain values only".into(),
            })?;
            values.insert(attr.key().to_string(), value);
        }
    }
    Ok(values)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

struct Evaluator<'a> {
    module: &'a str,
    dir: &'a Path,
    ctx: &'a Context<'a>,
    vars: &'a BTreeMap<String, hcl::Value>,
}

impl Evaluator<'_> {
    /// Evaluates `expr` after reading every `file("…")` in it. `sensitive`: leave the
    /// evaluator's own message out of errors (it may quote the value).
    fn value(
        &self,
        attribute: &str,
        expr: &Expression,
        sensitive: bool,
    ) -> Result<hcl::Value, TerraformError> {
        if let Some(variable) = missing_variable(expr, self.vars) {
            return Err(TerraformError::MissingVariable {
                module: self.module.into(),
                attribute: attribute.into(),
                variable,
            });
        }
        let mut expr = expr.clone();
        self.read_files(attribute, &mut expr)?;
        expr.evaluate(self.ctx).map_err(|e| TerraformError::Evaluate {
            module: self.module.into(),
            attribute: attribute.into(),
            why: if sensitive {
                "it (only literals, var.NAME, path.module, string templates and file(\"...\") are understood)"
                    .into()
            } else {
                format!("it: {e}")
            },
        })
    }

    fn text(&self, attribute: &str, expr: &Expression) -> Result<String, TerraformError> {
        match self.value(attribute, expr, false)? {
            hcl::Value::String(s) => Ok(s.trim().to_string()),
            hcl::Value::Number(n) => Ok(n.to_string()),
            hcl::Value::Bool(b) => Ok(b.to_string()),
            hcl::Value::Null => Ok(String::new()),
            _ => Err(self.type_error(attribute, "must be a string")),
        }
    }

    fn secret(&self, attribute: &str, expr: &Expression) -> Result<Secret, TerraformError> {
        match self.value(attribute, expr, true)? {
            hcl::Value::String(s) => Ok(Secret::new(s.trim())),
            hcl::Value::Null => Ok(Secret::new("")),
            _ => Err(self.type_error(attribute, "must be a string")),
        }
    }

    /// `tls_cert` / `tls_key`: the file's contents, remembering which file; `None` when
    /// empty (the installer's "not supplied").
    fn supplied(&self, attribute: &str, expr: &Expression) -> Result<Option<Supplied>, TerraformError> {
        let path = match expr {
            Expression::FuncCall(call) if is_file_call(call) => {
                let arg =
                    call.args.first().ok_or_else(|| self.type_error(attribute, "file() needs a path"))?;
                Some(self.file_path(attribute, arg)?)
            }
            _ => None,
        };
        let contents = self.secret(attribute, expr)?;
        if contents.expose().is_empty() {
            return Ok(None);
        }
        Ok(Some(Supplied { contents, path }))
    }

    /// `letsencrypt_dns_settings = { NAME = "value" }`: every value as a secret (which are
    /// secrets is the provider's to say).
    fn settings(
        &self,
        attribute: &str,
        expr: &Expression,
    ) -> Result<BTreeMap<String, Secret>, TerraformError> {
        let value = self.value(attribute, expr, true)?;
        let hcl::Value::Object(map) = value else {
            if value.is_null() {
                return Ok(BTreeMap::new());
            }
            return Err(self.type_error(attribute, "must be a map: { ENV_NAME = \"value\" }"));
        };
        let mut out = BTreeMap::new();
        for (key, value) in map {
            let text = match value {
                hcl::Value::String(s) => s,
                hcl::Value::Number(n) => n.to_string(),
                hcl::Value::Bool(b) => b.to_string(),
                _ => return Err(self.type_error(&format!("{attribute}.{key}"), "must be a string")),
            };
            out.insert(key, Secret::new(text));
        }
        Ok(out)
    }

    fn type_error(&self, attribute: &str, message: &str) -> TerraformError {
        TerraformError::Type {
            module: self.module.into(),
            attribute: attribute.into(),
            message: message.into(),
        }
    }

    /// The path a `file()` argument names, relative to the `.tf` file's directory.
    fn file_path(&self, attribute: &str, arg: &Expression) -> Result<PathBuf, TerraformError> {
        let value = arg.evaluate(self.ctx).map_err(|e| TerraformError::Evaluate {
            module: self.module.into(),
            attribute: attribute.into(),
            why: format!("the file() path: {e}"),
        })?;
        let hcl::Value::String(text) = value else {
            return Err(self.type_error(attribute, "file() takes a path string"));
        };
        let text = match text.strip_prefix("~/") {
            Some(rest) => std::env::var("HOME").map(|h| format!("{h}/{rest}")).unwrap_or(text),
            None => text,
        };
        let path = PathBuf::from(text);
        Ok(if path.is_absolute() { path } else { self.dir.join(path) })
    }

    /// Replaces each `file("…")` call in `expr` by the file's contents.
    fn read_files(&self, attribute: &str, expr: &mut Expression) -> Result<(), TerraformError> {
        match expr {
            Expression::FuncCall(call) if is_file_call(call) => {
                let [arg] = call.args.as_slice() else {
                    return Err(self.type_error(attribute, "file() takes exactly one path"));
                };
                let path = self.file_path(attribute, arg)?;
                let text = std::fs::read_to_string(&path).map_err(|source| TerraformError::File {
                    module: self.module.into(),
                    attribute: attribute.into(),
                    path: path.clone(),
                    source,
                })?;
                *expr = Expression::String(text);
            }
            Expression::FuncCall(call) => {
                for arg in &mut call.args {
                    self.read_files(attribute, arg)?;
                }
            }
            Expression::Array(items) => {
                for item in items {
                    self.read_files(attribute, item)?;
                }
            }
            Expression::Object(object) => {
                for value in object.values_mut() {
                    self.read_files(attribute, value)?;
                }
            }
            Expression::Parenthesis(inner) => self.read_files(attribute, inner)?,
            Expression::Conditional(c) => {
                self.read_files(attribute, &mut c.cond_expr)?;
                self.read_files(attribute, &mut c.true_expr)?;
                self.read_files(attribute, &mut c.false_expr)?;
            }
            _ => {}
        }
        Ok(())
    }
}

fn is_file_call(call: &hcl::expr::FuncCall) -> bool {
    call.name.namespace.is_empty() && call.name.name.as_str() == "file"
}

/// The first `var.NAME` in `expr` that has no value.
fn missing_variable(expr: &Expression, vars: &BTreeMap<String, hcl::Value>) -> Option<String> {
    use hcl::expr::TraversalOperator;
    let recurse = |e: &Expression| missing_variable(e, vars);
    match expr {
        Expression::Traversal(t) => {
            if let (Expression::Variable(v), Some(TraversalOperator::GetAttr(name))) =
                (&t.expr, t.operators.first())
                && v.as_str() == "var"
                && !vars.contains_key(name.as_str())
            {
                return Some(name.to_string());
            }
            recurse(&t.expr)
        }
        Expression::FuncCall(call) => call.args.iter().find_map(recurse),
        Expression::Array(items) => items.iter().find_map(recurse),
        Expression::Object(object) => object.values().find_map(recurse),
        Expression::Parenthesis(inner) => recurse(inner),
        Expression::Conditional(c) => {
            recurse(&c.cond_expr).or_else(|| recurse(&c.true_expr)).or_else(|| recurse(&c.false_expr))
        }
        Expression::TemplateExpr(t) => {
            // `"${var.x}"`: look at the interpolations' text.
            let text = t.to_string();
            vars_in_template(&text).into_iter().find(|name| !vars.contains_key(name))
        }
        _ => None,
    }
}

/// `var.NAME` references in a template's text.
fn vars_in_template(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("var.") {
        let before_ok =
            at == 0 || !rest[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '.');
        let after = &rest[at + 4..];
        let name: String =
            after.chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '-').collect();
        if before_ok && !name.is_empty() {
            out.push(name.clone());
        }
        rest = &after[name.len()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn module_values_from_defaults_tfvars_and_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("certs")).unwrap();
        write(dir.path(), "certs/bundle.pem", "BUNDLE\n");
        write(dir.path(), "certs/key.pem", "KEY\n");
        write(
            dir.path(),
            "variables.tf",
            "variable \"domain\" { default = \"gradient.example.com\" }\nvariable \"dns_secret\" {}\nvariable \"region\" { default = \"eu-west-1\" }\n",
        );
        let main = write(
            dir.path(),
            "main.tf",
            r#"
module "gradient_metal" {
  source = "github.com/Paperspace/gradient-installer?ref=master/gradient-metal"
  name = "cluster"
  domain = var.domain
  artifacts_path = "s3://${var.region}-artifacts/team-1"
  artifacts_access_key_id = "AKIAEXAMPLE"
  artifacts_secret_access_key = var.dns_secret
  letsencrypt_dns_name = "rfc2136"
  letsencrypt_dns_settings = {
    RFC2136_NAMESERVER = "10.0.0.53"
    RFC2136_TSIG_SECRET = var.dns_secret
    RFC2136_TIMEOUT = 30
  }
  tls_cert = file("${path.module}/certs/bundle.pem")
  tls_key = file("certs/key.pem")
  k8s_workers = [{ ip = "10.0.0.2" }]
}
"#,
        );
        let err = read(&main, &[], None).unwrap_err();
        assert!(
            matches!(&err, TerraformError::MissingVariable { variable, .. } if variable == "dns_secret"),
            "{err}"
        );
        let vars = write(dir.path(), "secrets.tfvars", "dns_secret = \"c2VjcmV0\"\n");
        let got = read(&main, &[vars], None).unwrap();
        assert_eq!(got.module, "gradient_metal");
        assert_eq!(got.domain.as_deref(), Some("gradient.example.com"));
        assert_eq!(got.artifacts_path.as_deref(), Some("s3://eu-west-1-artifacts/team-1"));
        assert_eq!(got.secret_access_key.unwrap().expose(), "c2VjcmV0");
        assert_eq!(got.dns_settings["RFC2136_TSIG_SECRET"].expose(), "c2VjcmV0");
        assert_eq!(got.dns_settings["RFC2136_TIMEOUT"].expose(), "30");
        let cert = got.tls_cert.unwrap();
        assert_eq!(cert.contents.expose(), "BUNDLE");
        assert_eq!(cert.path.unwrap(), dir.path().join("certs/bundle.pem"));
        assert_eq!(got.tls_key.unwrap().contents.expose(), "KEY");
    }

    #[test]
    fn empty_tls_values_are_not_supplied() {
        let dir = tempfile::tempdir().unwrap();
        let main = write(
            dir.path(),
            "main.tf",
            "module \"g\" {\n  tls_cert = \"\"\n  tls_key = \"\"\n  letsencrypt_dns_name = \"pdns\"\n}\n",
        );
        let got = read(&main, &[], None).unwrap();
        assert!(got.tls_cert.is_none() && got.tls_key.is_none());
        assert_eq!(got.dns_name.as_deref(), Some("pdns"));
    }

    #[test]
    fn module_choice() {
        let dir = tempfile::tempdir().unwrap();
        let main = write(
            dir.path(),
            "main.tf",
            "module \"vpc\" { cidr = \"10.0.0.0/16\" }\nmodule \"a\" { artifacts_path = \"s3://a\" }\nmodule \"b\" { artifacts_path = \"s3://b\" }\n",
        );
        let err = read(&main, &[], None).unwrap_err();
        assert!(err.to_string().contains("a, b") && err.to_string().contains("--module"), "{err}");
        assert_eq!(read(&main, &[], Some("b")).unwrap().artifacts_path.as_deref(), Some("s3://b"));
        assert!(matches!(read(&main, &[], Some("c")), Err(TerraformError::ModuleNotFound { .. })));
        let none = write(dir.path(), "other.tf", "module \"vpc\" { cidr = \"10.0.0.0/16\" }\n");
        assert!(matches!(read(&none, &[], None), Err(TerraformError::NoModule { .. })));
    }

    /// A syntax error names the place, never the line's text (it may hold a secret).
    #[test]
    fn syntax_error_does_not_quote_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let main = write(
            dir.path(),
            "main.tf",
            "module \"g\" {\n  artifacts_secret_access_key = \"hunter2\" +\n}\n",
        );
        let err = read(&main, &[], None).unwrap_err().to_string();
        assert!(err.contains("main.tf:") && err.contains("HCL syntax error"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn a_missing_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let main = write(dir.path(), "main.tf", "module \"g\" {\n  tls_cert = file(\"nope.crt\")\n}\n");
        let err = read(&main, &[], None).unwrap_err().to_string();
        assert!(err.contains("module.g.tls_cert") && err.contains("nope.crt"), "{err}");
    }

    #[test]
    fn template_variables() {
        assert_eq!(vars_in_template("s3://${var.bucket}/${var.team_id}"), ["bucket", "team_id"]);
        assert!(vars_in_template("${myvar.x}").is_empty());
    }
}
