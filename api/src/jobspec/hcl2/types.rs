//! Type constraints (`string`, `list(number)`, `object({ a = string })`, ...) as a `variable`
//! block's `type` and `convert()` write them, and the conversions cty applies to fit a value to
//! one.

use super::value::{describe, num, to_template_string};
use hcl_edit::expr::{Expression, ObjectKey};
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq)]
pub enum Ty {
    Any,
    String,
    Number,
    Bool,
    List(Box<Ty>),
    Set(Box<Ty>),
    Map(Box<Ty>),
    Tuple(Vec<Ty>),
    Object(Vec<ObjectAttr>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ObjectAttr {
    pub name: String,
    pub ty: Ty,
    /// `optional(T)`: may be left out; it then takes `default` (null without one).
    pub optional: bool,
    pub default: Option<Value>,
}

impl Ty {
    /// Strings from `-var` and `NOMAD_VAR_*` are taken as they are for these; other types are
    /// parsed as HCL expressions first, as Nomad does.
    pub fn takes_raw_string(&self) -> bool {
        matches!(self, Ty::Any | Ty::String | Ty::Number | Ty::Bool)
    }
}

/// Reads a type constraint expression. `default_of` evaluates an `optional()` default, which
/// is an ordinary expression.
pub fn parse<'e>(
    e: &'e Expression,
    default_of: &mut dyn FnMut(&Expression) -> Result<Value, String>,
) -> Result<Ty, String> {
    match e {
        Expression::Variable(v) => match v.as_str() {
            "any" => Ok(Ty::Any),
            "string" => Ok(Ty::String),
            "number" => Ok(Ty::Number),
            "bool" => Ok(Ty::Bool),
            other => Err(format!(
                "unknown type {other:?}: use string, number, bool, any, list(T), set(T), \
                 map(T), tuple([...]) or object({{...}})"
            )),
        },
        Expression::Parenthesis(p) => parse(p.inner(), default_of),
        Expression::FuncCall(call) => {
            let name = call.name.name.as_str();
            let args: Vec<&Expression> = call.args.iter().collect();
            let one = |args: &[&'e Expression]| -> Result<&'e Expression, String> {
                match args {
                    [a] => Ok(*a),
                    _ => Err(format!("{name}(...) takes exactly one type")),
                }
            };
            match name {
                "list" => Ok(Ty::List(Box::new(parse(one(&args)?, default_of)?))),
                "set" => Ok(Ty::Set(Box::new(parse(one(&args)?, default_of)?))),
                "map" => Ok(Ty::Map(Box::new(parse(one(&args)?, default_of)?))),
                "tuple" => match one(&args)? {
                    Expression::Array(items) => Ok(Ty::Tuple(
                        items
                            .iter()
                            .map(|t| parse(t, default_of))
                            .collect::<Result<_, _>>()?,
                    )),
                    _ => Err("tuple(...) takes a list of types: tuple([string, number])".into()),
                },
                "object" => match one(&args)? {
                    Expression::Object(o) => {
                        let mut attrs = Vec::new();
                        for (k, v) in o.iter() {
                            let name = match k {
                                ObjectKey::Ident(i) => i.as_str().to_string(),
                                ObjectKey::Expression(Expression::String(s)) => s.value().clone(),
                                ObjectKey::Expression(_) => {
                                    return Err("object type attributes must be names".into())
                                }
                            };
                            attrs.push(object_attr(name, v.expr(), default_of)?);
                        }
                        Ok(Ty::Object(attrs))
                    }
                    _ => Err("object(...) takes a map of types: object({ name = string })".into()),
                },
                "optional" => {
                    Err("optional(...) is only allowed on an object type's attribute".into())
                }
                other => Err(format!("unknown type constructor {other}(...)")),
            }
        }
        _ => Err("expected a type such as string, number, list(string) or object({...})".into()),
    }
}

fn object_attr(
    name: String,
    e: &Expression,
    default_of: &mut dyn FnMut(&Expression) -> Result<Value, String>,
) -> Result<ObjectAttr, String> {
    if let Expression::FuncCall(call) = e {
        if call.name.name.as_str() == "optional" {
            let args: Vec<&Expression> = call.args.iter().collect();
            let (ty, default) = match args.as_slice() {
                [t] => (parse(t, default_of)?, None),
                [t, d] => {
                    let ty = parse(t, default_of)?;
                    let d = convert(default_of(d)?, &ty)?;
                    (ty, Some(d))
                }
                _ => return Err("optional(...) takes a type and, optionally, a default".into()),
            };
            return Ok(ObjectAttr {
                name,
                ty,
                optional: true,
                default,
            });
        }
    }
    Ok(ObjectAttr {
        name,
        ty: parse(e, default_of)?,
        optional: false,
        default: None,
    })
}

/// Fits `v` to `ty` the way cty converts: numbers and bools to strings and back, tuples to
/// lists and sets, objects to maps; null fits every type.
pub fn convert(v: Value, ty: &Ty) -> Result<Value, String> {
    if v.is_null() {
        return Ok(v);
    }
    match ty {
        Ty::Any => Ok(v),
        Ty::String => match &v {
            Value::String(_) => Ok(v),
            Value::Number(_) | Value::Bool(_) => to_template_string(&v).map(Value::String),
            _ => Err(format!("a string is required, found {}", describe(&v))),
        },
        Ty::Number => match &v {
            Value::Number(_) => Ok(v),
            Value::String(s) => s
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(num)
                .ok_or_else(|| format!("a number is required, found the string {s:?}")),
            _ => Err(format!("a number is required, found {}", describe(&v))),
        },
        Ty::Bool => match &v {
            Value::Bool(_) => Ok(v),
            Value::String(s) if s == "true" => Ok(Value::Bool(true)),
            Value::String(s) if s == "false" => Ok(Value::Bool(false)),
            _ => Err(format!("a bool is required, found {}", describe(&v))),
        },
        Ty::List(elem) | Ty::Set(elem) => {
            let Value::Array(items) = v else {
                return Err(format!("a list is required, found {}", describe(&v)));
            };
            let mut out = items
                .into_iter()
                .enumerate()
                .map(|(i, x)| convert(x, elem).map_err(|e| format!("element {i}: {e}")))
                .collect::<Result<Vec<_>, _>>()?;
            if matches!(ty, Ty::Set(_)) {
                out.sort_by_key(|a| a.to_string());
                out.dedup();
            }
            Ok(Value::Array(out))
        }
        Ty::Map(elem) => {
            let Value::Object(items) = v else {
                return Err(format!("a map is required, found {}", describe(&v)));
            };
            let mut out = Map::new();
            for (k, x) in items {
                let x = convert(x, elem).map_err(|e| format!("element {k:?}: {e}"))?;
                out.insert(k, x);
            }
            Ok(Value::Object(out))
        }
        Ty::Tuple(types) => {
            let Value::Array(items) = v else {
                return Err(format!("a tuple is required, found {}", describe(&v)));
            };
            if items.len() != types.len() {
                return Err(format!(
                    "a tuple of {} elements is required, found {}",
                    types.len(),
                    items.len()
                ));
            }
            items
                .into_iter()
                .zip(types)
                .enumerate()
                .map(|(i, (x, t))| convert(x, t).map_err(|e| format!("element {i}: {e}")))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array)
        }
        Ty::Object(attrs) => {
            let Value::Object(mut items) = v else {
                return Err(format!("an object is required, found {}", describe(&v)));
            };
            let mut out = Map::new();
            for a in attrs {
                match items.remove(&a.name) {
                    Some(x) if !x.is_null() => {
                        let x = convert(x, &a.ty)
                            .map_err(|e| format!("attribute {:?}: {e}", a.name))?;
                        out.insert(a.name.clone(), x);
                    }
                    _ if a.optional => {
                        out.insert(a.name.clone(), a.default.clone().unwrap_or(Value::Null));
                    }
                    Some(x) => {
                        out.insert(a.name.clone(), x);
                    }
                    None => return Err(format!("attribute {:?} is required", a.name)),
                }
            }
            // cty drops attributes the type does not name.
            Ok(Value::Object(out))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ty(src: &str) -> Ty {
        let e = hcl_edit::parser::parse_expr(src).unwrap();
        parse(&e, &mut |_| Ok(json!("dflt"))).unwrap()
    }

    #[test]
    fn parses_nested_types() {
        assert_eq!(ty("list(string)"), Ty::List(Box::new(Ty::String)));
        let Ty::Object(attrs) = ty("object({ a = number, b = optional(string, \"x\") })") else {
            panic!()
        };
        assert_eq!(attrs[1].name, "b");
        assert!(attrs[1].optional);
        assert_eq!(attrs[1].default, Some(json!("dflt")));
    }

    #[test]
    fn converts_like_cty() {
        assert_eq!(convert(json!(5), &Ty::String).unwrap(), json!("5"));
        assert_eq!(convert(json!("2.5"), &Ty::Number).unwrap(), json!(2.5));
        assert_eq!(convert(json!("true"), &Ty::Bool).unwrap(), json!(true));
        assert_eq!(
            convert(json!(["b", "a", "b"]), &ty("set(string)")).unwrap(),
            json!(["a", "b"])
        );
        let obj = ty("object({ a = number, b = optional(string) })");
        assert_eq!(
            convert(json!({"a": "1", "c": true}), &obj).unwrap(),
            json!({"a": 1, "b": null})
        );
        let err = convert(json!({"b": "x"}), &obj).unwrap_err();
        assert!(err.contains("\"a\" is required"), "{err}");
        assert!(convert(json!("x"), &Ty::Number).is_err());
    }
}
