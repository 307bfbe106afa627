//! The input of `#[derive(LabelSet)]` and `#[derive(LabelValue)]`: field
//! types, label names and value texts, checked at the user's tokens.
//! Parsing only; `label_expand` generates the code.

use std::collections::HashSet;

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Attribute, Data, DeriveInput, Fields, GenericArgument, Ident, LitStr, PathArguments, Type};

/// `metrics_core::family::MAX_LABELS`.
const MAX_LABELS: usize = 16;
/// `metrics_core::MAX_TAG_KEY_LEN`.
const MAX_TAG_KEY_LEN: usize = 255;
/// `metrics_core::MAX_TAG_VALUE_LEN`.
const MAX_TAG_VALUE_LEN: usize = 1024;
/// `metrics_core::OVERFLOW_TAG_KEY`: the store's overflow marker.
const RESERVED_LABEL: &str = "overflow";

/// A struct deriving `LabelSet`.
pub(crate) struct LabelSetInput {
    pub(crate) input: DeriveInput,
    pub(crate) fields: Vec<LabelField>,
}

/// One field: its member, label name and type.
pub(crate) struct LabelField {
    pub(crate) member: Ident,
    pub(crate) name: String,
    pub(crate) ty: Type,
}

/// An enum deriving `LabelValue`.
pub(crate) struct LabelValueInput {
    pub(crate) input: DeriveInput,
    /// (variant, text), in declaration order.
    pub(crate) variants: Vec<(Ident, String)>,
}

/// The `name = "..."` of a `#[label(...)]` attribute, if any.
fn label_name(attrs: &[Attribute]) -> syn::Result<Option<LitStr>> {
    let mut name = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("label")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("name") {
                if name.is_some() {
                    return Err(meta.error("`name` given twice"));
                }
                name = Some(meta.value()?.parse::<LitStr>()?);
                Ok(())
            } else {
                Err(meta.error("unknown label option; expected `name = \"...\"`"))
            }
        })?;
    }
    Ok(name)
}

/// Checks a label name as Prometheus and the store accept it.
fn check_label_name(name: &str, span: Span) -> syn::Result<()> {
    let mut chars = name.chars();
    let valid_start = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    let valid_rest = chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid_start || !valid_rest {
        return Err(syn::Error::new(
            span,
            format!("invalid label name `{name}`: use letters, digits and `_`, not starting with a digit"),
        ));
    }
    if name.starts_with("__") {
        return Err(syn::Error::new(
            span,
            format!("invalid label name `{name}`: names starting with `__` are reserved"),
        ));
    }
    if name == RESERVED_LABEL {
        return Err(syn::Error::new(
            span,
            "label name `overflow` is reserved for the store's overflow set",
        ));
    }
    if name.len() > MAX_TAG_KEY_LEN {
        return Err(syn::Error::new(
            span,
            format!("label name is longer than {MAX_TAG_KEY_LEN} bytes"),
        ));
    }
    Ok(())
}

const SUPPORTED: &str = "use an enum deriving `LabelValue`, `bool`, `u8`, `i8`, `u16`, `i16`, `u32`, `i32`, `&str`, `String`, `Cow<str>` or `metrics_core::Interned`";

/// Rejects field types that cannot be a label: floats, wide integers,
/// options, collections, tuples. A plain path without generic arguments is
/// taken as a `LabelValue` enum; the compiler checks the trait.
fn check_field_type(ty: &Type) -> syn::Result<()> {
    let unsupported = |what: &str| {
        Err(syn::Error::new(
            ty.span(),
            format!("unsupported label type {what}: {SUPPORTED}"),
        ))
    };
    match ty {
        Type::Reference(r) => check_field_type(&r.elem),
        Type::Paren(p) => check_field_type(&p.elem),
        Type::Group(g) => check_field_type(&g.elem),
        Type::Path(p) if p.qself.is_none() => {
            let Some(last) = p.path.segments.last() else {
                return unsupported("`()`");
            };
            let ident = last.ident.to_string();
            match ident.as_str() {
                "f32" | "f64" | "u64" | "i64" | "u128" | "i128" | "usize" | "isize" | "char" => {
                    return unsupported(&format!("`{ident}`"));
                }
                _ => {}
            }
            match &last.arguments {
                PathArguments::None => Ok(()),
                PathArguments::AngleBracketed(args) if ident == "Cow" => {
                    let is_str = args
                        .args
                        .iter()
                        .any(|a| matches!(a, GenericArgument::Type(Type::Path(t)) if t.path.is_ident("str")));
                    if is_str {
                        Ok(())
                    } else {
                        unsupported("`Cow` of anything but `str`")
                    }
                }
                _ => unsupported(&format!("`{ident}<..>`")),
            }
        }
        Type::Tuple(_) => unsupported("(a tuple)"),
        Type::Array(_) | Type::Slice(_) => unsupported("(an array or slice)"),
        _ => unsupported("(this kind of type)"),
    }
}

/// Parses and checks a `#[derive(LabelSet)]` input.
pub(crate) fn parse_label_set(input: DeriveInput) -> syn::Result<LabelSetInput> {
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new(
            input.ident.span(),
            "`LabelSet` can only be derived for a struct with named fields",
        ));
    };
    let Fields::Named(named) = &data.fields else {
        return Err(syn::Error::new(
            input.ident.span(),
            "`LabelSet` needs named fields: each name is a label name",
        ));
    };
    if named.named.len() > MAX_LABELS {
        return Err(syn::Error::new(
            input.ident.span(),
            format!(
                "a label set has at most {MAX_LABELS} fields, this one has {}",
                named.named.len()
            ),
        ));
    }
    let mut seen = HashSet::new();
    let mut errors: Option<syn::Error> = None;
    let mut fields = Vec::new();
    for field in &named.named {
        let result = (|| {
            let member = field
                .ident
                .clone()
                .ok_or_else(|| syn::Error::new(field.span(), "expected a named field"))?;
            let (name, span) = match label_name(&field.attrs)? {
                Some(lit) => (lit.value(), lit.span()),
                None => (member.to_string().trim_start_matches("r#").to_owned(), member.span()),
            };
            check_label_name(&name, span)?;
            if !seen.insert(name.clone()) {
                return Err(syn::Error::new(
                    span,
                    format!("duplicate label name `{name}`; each label may appear once"),
                ));
            }
            check_field_type(&field.ty)?;
            Ok(LabelField {
                member,
                name,
                ty: field.ty.clone(),
            })
        })();
        match result {
            Ok(f) => fields.push(f),
            Err(e) => match &mut errors {
                Some(all) => all.combine(e),
                None => errors = Some(e),
            },
        }
    }
    if let Some(e) = errors {
        return Err(e);
    }
    Ok(LabelSetInput { input, fields })
}

/// `snake_case` of a variant name: `NotFound` → `not_found`.
fn snake_case(ident: &str) -> String {
    let mut out = String::with_capacity(ident.len() + 4);
    for (i, c) in ident.chars().enumerate() {
        if c.is_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Parses and checks a `#[derive(LabelValue)]` input.
pub(crate) fn parse_label_value(input: DeriveInput) -> syn::Result<LabelValueInput> {
    let Data::Enum(data) = &input.data else {
        return Err(syn::Error::new(
            input.ident.span(),
            "`LabelValue` can only be derived for an enum of unit variants",
        ));
    };
    if data.variants.is_empty() {
        return Err(syn::Error::new(
            input.ident.span(),
            "`LabelValue` needs at least one variant",
        ));
    }
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new(
            input.generics.span(),
            "`LabelValue` cannot be derived for a generic enum",
        ));
    }
    let mut seen = HashSet::new();
    let mut variants = Vec::new();
    for v in &data.variants {
        if !matches!(v.fields, Fields::Unit) {
            return Err(syn::Error::new(
                v.ident.span(),
                "a label value variant cannot have fields",
            ));
        }
        let (text, span) = match label_name(&v.attrs)? {
            Some(lit) => (lit.value(), lit.span()),
            None => (snake_case(&v.ident.to_string()), v.ident.span()),
        };
        if text.is_empty() || text.len() > MAX_TAG_VALUE_LEN || text.chars().any(char::is_control) {
            return Err(syn::Error::new(
                span,
                format!("invalid label value {text:?}: 1 to {MAX_TAG_VALUE_LEN} bytes, no control characters"),
            ));
        }
        if !seen.insert(text.clone()) {
            return Err(syn::Error::new(span, format!("duplicate label value `{text}`")));
        }
        variants.push((v.ident.clone(), text));
    }
    Ok(LabelValueInput { input, variants })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_splits_words() {
        assert_eq!(snake_case("NotFound"), "not_found");
        assert_eq!(snake_case("Get"), "get");
    }

    #[test]
    fn label_names_follow_prometheus() {
        for ok in ["method", "_x", "a1"] {
            assert!(check_label_name(ok, Span::call_site()).is_ok(), "{ok}");
        }
        for bad in ["", "1a", "a-b", "__x", "overflow", "é"] {
            assert!(check_label_name(bad, Span::call_site()).is_err(), "{bad}");
        }
    }
}
