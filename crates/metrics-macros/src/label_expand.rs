//! Code generation for `#[derive(LabelSet)]` and `#[derive(LabelValue)]`
//! from the checked input of `label_set`.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use crate::label_set::{LabelSetInput, LabelValueInput};

/// `impl metrics_core::LabelSet` for a checked struct.
pub(crate) fn expand_label_set(parsed: &LabelSetInput) -> TokenStream {
    let ident = &parsed.input.ident;
    let (impl_generics, ty_generics, where_clause) = parsed.input.generics.split_for_impl();
    let names = parsed.fields.iter().map(|f| &f.name);
    // Each use of the field's type is spanned at it, so a type that is not a
    // label value is reported at the user's field.
    let value_ty = |f: &crate::label_set::LabelField| {
        let ty = &f.ty;
        quote_spanned!(ty.span()=> <#ty as ::metrics_core::LabelValue>)
    };
    let cards = parsed.fields.iter().map(|f| {
        let v = value_ty(f);
        quote!(#v::CARDINALITY)
    });
    let dense_steps = parsed.fields.iter().map(|f| {
        let v = value_ty(f);
        let m = &f.member;
        quote! {
            i = i * (match #v::CARDINALITY { ::core::option::Option::Some(c) => c as usize, ::core::option::Option::None => 1 })
                + #v::label_index(&self.#m) as usize;
        }
    });
    let part_steps = parsed.fields.iter().map(|f| {
        let v = value_ty(f);
        let m = &f.member;
        quote!(::metrics_core::family::PartVisitor::part(v, #v::label_part(&self.#m));)
    });
    let label_steps = parsed.fields.iter().map(|f| {
        let v = value_ty(f);
        let m = &f.member;
        let name = &f.name;
        quote!(f(#name, &#v::label_text(&self.#m));)
    });
    quote! {
        #[automatically_derived]
        impl #impl_generics ::metrics_core::LabelSet for #ident #ty_generics #where_clause {
            const NAMES: &'static [&'static str] = &[#(#names),*];
            const DENSE_SIZE: ::core::option::Option<usize> =
                ::metrics_core::family::dense_product(&[#(#cards),*]);

            #[inline]
            #[allow(unused_mut)]
            fn dense_index(&self) -> usize {
                let mut i: usize = 0;
                #(#dense_steps)*
                i
            }

            // Always inlined: the family's hash and its key comparison are
            // each one pass over the fields, worth keeping in the caller.
            #[inline(always)]
            #[allow(unused_variables)]
            fn for_each_part<V: ::metrics_core::family::PartVisitor>(&self, v: &mut V) {
                #(#part_steps)*
            }

            #[allow(unused_variables)]
            fn for_each_label(&self, f: &mut dyn FnMut(&'static str, &str)) {
                #(#label_steps)*
            }
        }
    }
}

/// `impl metrics_core::LabelValue` for a checked enum.
pub(crate) fn expand_label_value(parsed: &LabelValueInput) -> TokenStream {
    let ident = &parsed.input.ident;
    let count = u32::try_from(parsed.variants.len()).unwrap_or(u32::MAX);
    let index_arms = parsed.variants.iter().enumerate().map(|(i, (v, _))| {
        let i = u32::try_from(i).unwrap_or(u32::MAX);
        quote!(Self::#v => #i,)
    });
    let text_arms = parsed.variants.iter().map(|(v, text)| quote!(Self::#v => #text,));
    quote! {
        #[automatically_derived]
        impl ::metrics_core::LabelValue for #ident {
            const CARDINALITY: ::core::option::Option<u32> = ::core::option::Option::Some(#count);

            #[inline]
            fn label_index(&self) -> u32 {
                match self { #(#index_arms)* }
            }

            fn label_text(&self) -> ::std::borrow::Cow<'_, str> {
                ::std::borrow::Cow::Borrowed(match self { #(#text_arms)* })
            }
        }
    }
}
