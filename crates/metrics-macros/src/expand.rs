//! Code generation: wraps the function's body so that every way out of a
//! call (return, `?`, panic, cancellation) is recorded under its outcome.
//!
//! The body's tokens are emitted unchanged, so errors inside it point at the
//! user's code. The generated names use mixed-site hygiene: the body cannot
//! see them, and they cannot shadow anything the body uses.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{format_ident, quote};
use syn::ext::IdentExt;
use syn::{
    AttrStyle, Block, Expr, GenericArgument, Ident, ItemFn, Path, PathArguments, ReturnType, Stmt, TraitItemFn, Type,
    TypeParamBound,
};

use crate::attr::Args;

/// Which attribute is being expanded.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    ExecutionTime,
    MemoryUsage,
}

impl Kind {
    fn attribute(self) -> &'static str {
        match self {
            Kind::ExecutionTime => "#[record_execution_time]",
            Kind::MemoryUsage => "#[record_memory_usage]",
        }
    }
}

/// The entry point of both attributes. On an error the item is emitted
/// unchanged next to the error, so the user sees only the one mistake.
pub(crate) fn expand(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
    let func = match syn::parse2::<ItemFn>(item.clone()) {
        Ok(func) => func,
        Err(error) => {
            let error = match syn::parse2::<TraitItemFn>(item.clone()) {
                Ok(decl) if decl.default.is_none() => syn::Error::new_spanned(
                    &decl.sig,
                    format!(
                        "{} needs a function body; put it on the implementations of this method",
                        kind.attribute()
                    ),
                ),
                _ => match syn::parse2::<syn::Item>(item.clone()) {
                    Ok(other) => syn::Error::new_spanned(
                        item_head(&other),
                        format!("{} can only be applied to a function", kind.attribute()),
                    ),
                    Err(_) => error,
                },
            };
            return with_item(error, item);
        }
    };
    let args = match syn::parse2::<Args>(args) {
        Ok(args) => args,
        Err(error) => return with_item(error, item),
    };
    if let (Kind::MemoryUsage, Some(objective)) = (kind, &args.objective) {
        let error = syn::Error::new(
            objective.span,
            "`objective(...)` is a service level objective on a function's run time and outcome: put it on #[record_execution_time]",
        );
        return with_item(error, item);
    }
    if let Some(constness) = &func.sig.constness {
        let error = syn::Error::new(
            constness.span,
            format!(
                "{} cannot instrument a `const fn`: it reads a clock and records at run time; remove `const` or the attribute",
                kind.attribute()
            ),
        );
        return with_item(error, item);
    }
    instrument(kind, &args, func)
}

/// The tokens of an item up to its name, for errors about the item itself.
fn item_head(item: &syn::Item) -> TokenStream {
    use quote::ToTokens;
    let mut tokens = item.to_token_stream().into_iter();
    tokens.next().map(TokenStream::from).unwrap_or_default()
}

fn with_item(error: syn::Error, item: TokenStream) -> TokenStream {
    let error = error.into_compile_error();
    quote!(#error #item)
}

/// What the generated code needs to know about the call site.
struct CallSite {
    krate: Path,
    function: String,
    /// The metric name (timer) or prefix (memory), as an expression.
    name: TokenStream,
    tags: TokenStream,
    /// The function's `SamplePolicy`, as an expression.
    policy: TokenStream,
    /// The declaration of the function's objective, if it has one.
    objective: Option<TokenStream>,
}

fn optional_f64(v: Option<f64>) -> TokenStream {
    match v {
        Some(v) => {
            let lit = proc_macro2::Literal::f64_suffixed(v);
            quote!(::core::option::Option::Some(#lit))
        }
        None => quote!(::core::option::Option::None),
    }
}

impl CallSite {
    fn new(kind: Kind, args: &Args, func: &ItemFn) -> Self {
        let krate = args.krate.clone().unwrap_or_else(|| syn::parse_quote!(::metrics_core));
        let function = func.sig.ident.unraw().to_string();
        let name = match (&args.name, kind) {
            (Some(lit), _) => quote!(#lit),
            (None, Kind::ExecutionTime) => {
                quote!(::core::concat!(::core::module_path!(), ".", #function, ".execution_time"))
            }
            (None, Kind::MemoryUsage) => quote!(::core::concat!(::core::module_path!(), ".", #function)),
        };
        let tags = args.tags.iter().map(|t| {
            let key = &t.key;
            let value = &t.value;
            quote!((#key, #value))
        });
        let policy = match &args.samples {
            Some(lit) if !lit.value => quote!(#krate::SamplePolicy::AggregateOnly),
            _ => quote!(#krate::SamplePolicy::EveryEvent),
        };
        let objective = args.objective.as_ref().map(|o| {
            let success = optional_f64(o.success);
            let latency = optional_f64(o.latency_seconds);
            let percentile = proc_macro2::Literal::f64_suffixed(o.percentile.unwrap_or(99.0));
            let once = format_ident!("__METRICS_OBJECTIVE", span = Span::mixed_site());
            quote! {
                static #once: ::std::sync::Once = ::std::sync::Once::new();
                #krate::instrument::declare_objective_once(&#once, || #krate::instrument::FunctionObjective {
                    metric: #name,
                    function: #function,
                    module: ::core::module_path!(),
                    success: #success,
                    latency_seconds: #latency,
                    percentile: #percentile,
                });
            }
        });
        CallSite {
            krate,
            function,
            name,
            tags: quote!(#(#tags),*),
            policy,
            objective,
        }
    }

    /// The per-call-site `static` and the expression that reads it.
    fn handles(&self, kind: Kind) -> (TokenStream, TokenStream) {
        let krate = &self.krate;
        let (cell, ty) = match kind {
            Kind::ExecutionTime => (
                format_ident!("__METRICS_EXECUTION_TIMERS", span = Span::mixed_site()),
                quote!(#krate::instrument::ExecutionTimers),
            ),
            Kind::MemoryUsage => (
                format_ident!("__METRICS_MEMORY", span = Span::mixed_site()),
                quote!(#krate::instrument::MemoryMetrics),
            ),
        };
        let (name, function, tags, policy) = (&self.name, &self.function, &self.tags, &self.policy);
        let decl = quote! {
            static #cell: ::std::sync::OnceLock<::core::option::Option<#ty>> = ::std::sync::OnceLock::new();
        };
        let resolve = quote! {
            #ty::get_or_resolve_with_policy(&#cell, #name, #function, ::core::module_path!(), &[#tags], #policy)
        };
        // The objective is declared before the timer is resolved, so that
        // its latency bound can become one of the timer's buckets.
        let get = match &self.objective {
            Some(declare) => quote!({ #declare #resolve }),
            None => resolve,
        };
        (decl, get)
    }
}

fn instrument(kind: Kind, args: &Args, func: ItemFn) -> TokenStream {
    let site = CallSite::new(kind, args, &func);
    let krate = &site.krate;
    let ItemFn { attrs, vis, sig, block } = func;
    // Inner attributes (`#![allow(...)]`) become outer attributes of the
    // function: the body moves into a closure or an async block.
    let attrs = attrs.into_iter().map(|mut a| {
        a.style = AttrStyle::Outer;
        a
    });
    let (decl, get) = site.handles(kind);
    let (call_guard, future) = match kind {
        Kind::ExecutionTime => (
            quote!(#krate::instrument::TimedCall),
            quote!(#krate::instrument::TimedFuture),
        ),
        Kind::MemoryUsage => (
            quote!(#krate::instrument::MeasuredCall),
            quote!(#krate::instrument::MeasuredFuture),
        ),
    };
    let block = *block;

    if sig.asyncness.is_some() {
        let classify = classifier(krate, return_type(&sig.output));
        return quote! {
            #(#attrs)*
            #vis #sig {
                #decl
                #future::new(#get, #classify, async move #block).await
            }
        };
    }

    if let Some(body) = async_trait_body(&block, &sig.output, |output, async_block| {
        let classify = classifier(krate, output);
        quote!({
            #decl
            #future::new(#get, #classify, #async_block)
        })
    }) {
        return quote! {
            #(#attrs)*
            #vis #sig #body
        };
    }

    let output = return_type(&sig.output);
    let call = Ident::new("metrics_call", Span::mixed_site());
    if matches!(output, Some(Type::Never(_))) {
        // A diverging function only leaves by unwinding: the guard records
        // the panic; nothing else can be recorded.
        return quote! {
            #(#attrs)*
            #vis #sig {
                #decl
                let #call = #call_guard::start(#get);
                #block
            }
        };
    }
    let classify = classifier(krate, output);
    let ret = Ident::new("metrics_ret", Span::mixed_site());
    // `let` annotations may elide lifetimes but cannot name `impl Trait`;
    // where the type can be written, it guides inference of `?` and
    // `.into()` in the body exactly as the signature did.
    let annotation = match output {
        Some(ty) if !mentions_impl(&quote!(#ty)) => quote!(: #ty),
        Some(_) => quote!(),
        None => quote!(: ()),
    };
    quote! {
        #(#attrs)*
        #vis #sig {
            #decl
            let #call = #call_guard::start(#get);
            let #ret #annotation = #krate::instrument::call_once(move || #block);
            #call.finish(#classify, &#ret);
            #ret
        }
    }
}

fn return_type(output: &ReturnType) -> Option<&Type> {
    match output {
        ReturnType::Default => None,
        ReturnType::Type(_, ty) => Some(ty),
    }
}

/// `ErrIsError` for return types whose last path segment is `Result`,
/// `AlwaysOk` for everything else: decided from the tokens, at compile time.
fn classifier(krate: &Path, output: Option<&Type>) -> TokenStream {
    if output.is_some_and(is_result) {
        quote!(#krate::instrument::ErrIsError)
    } else {
        quote!(#krate::instrument::AlwaysOk)
    }
}

fn is_result(ty: &Type) -> bool {
    match ty {
        Type::Path(p) => p.qself.is_none() && p.path.segments.last().is_some_and(|s| s.ident == "Result"),
        Type::Paren(p) => is_result(&p.elem),
        Type::Group(g) => is_result(&g.elem),
        _ => false,
    }
}

fn mentions_impl(tokens: &TokenStream) -> bool {
    tokens.clone().into_iter().any(|t| match t {
        TokenTree::Ident(i) => i == "impl",
        TokenTree::Group(g) => mentions_impl(&g.stream()),
        _ => false,
    })
}

/// Recognises the body `#[async_trait]` generates for an `async fn` —
/// `Box::pin(async move { ... })` as the last expression — and rebuilds the
/// block with `wrap(output, async_block)` in place of the async block, so
/// that the future is measured rather than its creation. `output` is the
/// `Output = T` of the returned `dyn Future`.
fn async_trait_body(
    block: &Block,
    output: &ReturnType,
    wrap: impl FnOnce(Option<&Type>, &Expr) -> TokenStream,
) -> Option<TokenStream> {
    let (last, init) = block.stmts.split_last()?;
    let Stmt::Expr(Expr::Call(call), None) = last else {
        return None;
    };
    let Expr::Path(func) = &*call.func else {
        return None;
    };
    if func.path.segments.last()?.ident != "pin" || call.args.len() != 1 {
        return None;
    }
    let async_block = call.args.first()?;
    if !matches!(async_block, Expr::Async(_)) {
        return None;
    }
    let future_output = return_type(output).and_then(future_output);
    let wrapped = wrap(future_output, async_block);
    let callee = &call.func;
    Some(quote!({
        #(#init)*
        #callee(#wrapped)
    }))
}

/// The `T` of `Output = T` anywhere in `ty` (`Pin<Box<dyn Future<Output = T> + Send>>`).
fn future_output(ty: &Type) -> Option<&Type> {
    match ty {
        Type::Path(p) => output_in_path(&p.path),
        Type::TraitObject(t) => t.bounds.iter().find_map(|b| match b {
            TypeParamBound::Trait(t) => output_in_path(&t.path),
            _ => None,
        }),
        Type::Paren(p) => future_output(&p.elem),
        Type::Group(g) => future_output(&g.elem),
        _ => None,
    }
}

fn output_in_path(path: &Path) -> Option<&Type> {
    path.segments.iter().find_map(|s| match &s.arguments {
        PathArguments::AngleBracketed(args) => args.args.iter().find_map(|a| match a {
            GenericArgument::AssocType(assoc) if assoc.ident == "Output" => Some(&assoc.ty),
            GenericArgument::Type(inner) => future_output(inner),
            _ => None,
        }),
        _ => None,
    })
}
