//! Nomad's HCL2 function library (the cty/Terraform standard library Nomad registers), over
//! JSON values.
//!
//! Value conventions: HCL lists, tuples and sets are arrays (a set is sorted and free of
//! duplicates), maps and objects are objects, and a number with an integral value that fits
//! i64 is always stored as an i64 (see [`args::num`]). Arguments are converted the way cty
//! converts them before calling a function: numbers and bools are accepted where a string is
//! wanted, numeric strings where a number is. `try`, `can`, `templatefile` and `convert` are
//! the evaluator's, because they need unevaluated expressions or types.

pub(super) mod args;
mod collections;
mod convert;
mod crypto;
mod csv;
mod encoding;
mod files;
mod format;
mod glob;
mod maps;
mod net;
mod numeric;
mod regexp;
mod rfc3339;
mod sets;
mod strings;
mod time;
mod verbs;
mod yaml;

use serde_json::Value;
use std::path::Path;

/// What a function may look at besides its arguments.
pub struct FuncEnv<'a> {
    /// The job file's directory: `file("x")` reads `<base_dir>/x`.
    pub base_dir: &'a Path,
}

#[derive(Debug, PartialEq)]
pub enum FuncError {
    /// No function of that name.
    Unknown,
    /// The call failed; the message says why, without the function's name.
    Failed(String),
}

/// Calls the function `name` with already evaluated arguments.
pub fn call(name: &str, args: Vec<Value>, env: &FuncEnv) -> Result<Value, FuncError> {
    let a = args.as_slice();
    match name {
        "abs" => numeric::abs(a),
        "abspath" => files::abspath(a),
        "alltrue" => collections::alltrue(a),
        "anytrue" => collections::anytrue(a),
        "base64decode" => encoding::base64decode(a),
        "base64encode" => encoding::base64encode(a),
        "base64gzip" => encoding::base64gzip(a),
        "base64sha256" => crypto::base64sha256(a),
        "base64sha512" => crypto::base64sha512(a),
        "basename" => files::basename(a),
        "bcrypt" => crypto::bcrypt(a),
        "ceil" => numeric::ceil(a),
        "chomp" => strings::chomp(a),
        "chunklist" => collections::chunklist(a),
        "cidrhost" => net::cidrhost(a),
        "cidrnetmask" => net::cidrnetmask(a),
        "cidrsubnet" => net::cidrsubnet(a),
        "cidrsubnets" => net::cidrsubnets(a),
        "coalesce" => collections::coalesce(a),
        "coalescelist" => collections::coalescelist(a),
        "compact" => collections::compact(a),
        "concat" => collections::concat(a),
        "contains" => collections::contains(a),
        "csvdecode" => csv::csvdecode(a),
        "dirname" => files::dirname(a),
        "distinct" => collections::distinct(a),
        "element" => collections::element(a),
        "endswith" => strings::endswith(a),
        "file" => files::file(a, env),
        "filebase64" => files::filebase64(a, env),
        "fileexists" => files::fileexists(a, env),
        "fileset" => files::fileset(a, env),
        "flatten" => collections::flatten(a),
        "floor" => numeric::floor(a),
        "format" => format::format(a),
        "formatdate" => time::formatdate(a),
        "formatlist" => format::formatlist(a),
        "indent" => strings::indent(a),
        "index" => collections::index(a),
        "join" => strings::join(a),
        "jsondecode" => encoding::jsondecode(a),
        "jsonencode" => encoding::jsonencode(a),
        "keys" => maps::keys(a),
        "length" => collections::length(a),
        "log" => numeric::log(a),
        "lookup" => maps::lookup(a),
        "lower" => strings::lower(a),
        "max" => numeric::max(a),
        "md5" => crypto::md5(a),
        "merge" => maps::merge(a),
        "min" => numeric::min(a),
        "one" => collections::one(a),
        "parseint" => numeric::parseint(a),
        "pathexpand" => files::pathexpand(a),
        "pow" => numeric::pow(a),
        "range" => numeric::range(a),
        "regex" => regexp::regex(a),
        "regex_replace" => regexp::regex_replace(a),
        "regexall" => regexp::regexall(a),
        "replace" => regexp::replace(a),
        "reverse" => collections::reverse(a),
        "setintersection" => sets::setintersection(a),
        "setproduct" => sets::setproduct(a),
        "setsubtract" => sets::setsubtract(a),
        "setunion" => sets::setunion(a),
        "sha1" => crypto::sha1(a),
        "sha256" => crypto::sha256(a),
        "sha512" => crypto::sha512(a),
        "signum" => numeric::signum(a),
        "slice" => collections::slice(a),
        "sort" => collections::sort(a),
        "split" => strings::split(a),
        "startswith" => strings::startswith(a),
        "strcontains" => strings::strcontains(a),
        "strlen" => strings::strlen(a),
        "strrev" => strings::strrev(a),
        "substr" => strings::substr(a),
        "sum" => numeric::sum(a),
        "textdecodebase64" => encoding::textdecodebase64(a),
        "textencodebase64" => encoding::textencodebase64(a),
        "timeadd" => time::timeadd(a),
        "timestamp" => time::timestamp(a),
        "title" => strings::title(a),
        "tobool" => convert::tobool(a),
        "tolist" => convert::tolist(a),
        "tomap" => convert::tomap(a),
        "tonumber" => convert::tonumber(a),
        "toset" => convert::toset(a),
        "tostring" => convert::tostring(a),
        "transpose" => maps::transpose(a),
        "trim" => strings::trim(a),
        "trimprefix" => strings::trimprefix(a),
        "trimspace" => strings::trimspace(a),
        "trimsuffix" => strings::trimsuffix(a),
        "upper" => strings::upper(a),
        "urlencode" => encoding::urlencode(a),
        "uuidv4" => crypto::uuidv4(a),
        "uuidv5" => crypto::uuidv5(a),
        "values" => maps::values(a),
        "yamldecode" => yaml::yamldecode(a),
        "yamlencode" => yaml::yamlencode(a),
        "zipmap" => maps::zipmap(a),
        _ => Err(FuncError::Unknown),
    }
}

/// Every function name, for "did you mean".
pub fn names() -> &'static [&'static str] {
    NAMES
}

const NAMES: &[&str] = &[
    "abs",
    "abspath",
    "alltrue",
    "anytrue",
    "base64decode",
    "base64encode",
    "base64gzip",
    "base64sha256",
    "base64sha512",
    "basename",
    "bcrypt",
    "ceil",
    "chomp",
    "chunklist",
    "cidrhost",
    "cidrnetmask",
    "cidrsubnet",
    "cidrsubnets",
    "coalesce",
    "coalescelist",
    "compact",
    "concat",
    "contains",
    "csvdecode",
    "dirname",
    "distinct",
    "element",
    "endswith",
    "file",
    "filebase64",
    "fileexists",
    "fileset",
    "flatten",
    "floor",
    "format",
    "formatdate",
    "formatlist",
    "indent",
    "index",
    "join",
    "jsondecode",
    "jsonencode",
    "keys",
    "length",
    "log",
    "lookup",
    "lower",
    "max",
    "md5",
    "merge",
    "min",
    "one",
    "parseint",
    "pathexpand",
    "pow",
    "range",
    "regex",
    "regex_replace",
    "regexall",
    "replace",
    "reverse",
    "setintersection",
    "setproduct",
    "setsubtract",
    "setunion",
    "sha1",
    "sha256",
    "sha512",
    "signum",
    "slice",
    "sort",
    "split",
    "startswith",
    "strcontains",
    "strlen",
    "strrev",
    "substr",
    "sum",
    "textdecodebase64",
    "textencodebase64",
    "timeadd",
    "timestamp",
    "title",
    "tobool",
    "tolist",
    "tomap",
    "tonumber",
    "toset",
    "tostring",
    "transpose",
    "trim",
    "trimprefix",
    "trimspace",
    "trimsuffix",
    "upper",
    "urlencode",
    "uuidv4",
    "uuidv5",
    "values",
    "yamldecode",
    "yamlencode",
    "zipmap",
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env() -> FuncEnv<'static> {
        FuncEnv {
            base_dir: Path::new("."),
        }
    }

    #[test]
    fn names_are_sorted_unique_and_all_dispatch() {
        assert!(
            NAMES.windows(2).all(|w| w[0] < w[1]),
            "NAMES must be sorted and unique"
        );
        for name in NAMES {
            // Far too many arguments: every function must answer with its own error.
            let args = vec![Value::Null; 9];
            assert_ne!(call(name, args, &env()), Err(FuncError::Unknown), "{name}");
        }
        for lazy in ["try", "can", "templatefile", "convert", "nope"] {
            assert_eq!(call(lazy, vec![], &env()), Err(FuncError::Unknown));
        }
    }

    #[test]
    fn calls_go_through_dispatch() {
        assert_eq!(call("upper", vec![json!("a")], &env()), Ok(json!("A")));
        assert_eq!(
            call("upper", vec![json!("a"), json!("b")], &env()),
            Err(FuncError::Failed("expects 1 argument, got 2".into()))
        );
        assert_eq!(
            call(
                "cidrsubnet",
                vec![json!("10.1.2.0/24"), json!(4), json!(15)],
                &env()
            ),
            Ok(json!("10.1.2.240/28"))
        );
    }

    /// Every function with hostile arguments must return, never panic.
    #[test]
    fn no_panics_on_odd_input() {
        let odd = [
            json!(null),
            json!(-1),
            json!(i64::MIN),
            json!(1e300),
            json!(-0.5),
            json!(""),
            json!("é́🤔\u{0}"),
            json!("%"),
            json!("/["),
            json!([]),
            json!([null, [1], {"a": null}]),
            json!({}),
            json!({"k": [null]}),
            json!(true),
        ];
        for name in NAMES.iter().filter(|n| !n.starts_with("file")) {
            for x in &odd {
                for y in &odd {
                    for args in [
                        vec![],
                        vec![x.clone()],
                        vec![x.clone(), y.clone()],
                        vec![y.clone(), x.clone(), x.clone()],
                    ] {
                        let _ = call(name, args, &env());
                    }
                }
            }
        }
    }
}
