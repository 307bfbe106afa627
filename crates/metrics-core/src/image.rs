//! The program's read-only image: whether a string's bytes live in memory
//! that cannot change while the process runs.
//!
//! String literals (a metric name, a tag key, a fixed tag value) are
//! compiled into the executable's read-only segments. Bytes there never
//! change and are never unmapped, so two `&str`s with the same address and
//! length found there hold the same text: the lookup cache
//! (`store::thread_cache`) compares such pieces by address instead of
//! byte by byte. Anything else — heap strings, stack buffers, the
//! writable data segments, shared libraries that `dlclose` could unmap and
//! something else be mapped in their place — is never taken for pinned,
//! and is compared by its bytes as before.
//!
//! The segments are read once, from the program headers of the main
//! executable (`dl_iterate_phdr` visits it first): every loadable segment
//! without the write flag. Writable segments, including the RELRO part of
//! one that the loader later makes read-only, are left out. Code that
//! `mprotect`s the program's own text or constants writable and rewrites
//! them breaks more than this; it is not supported. Elsewhere than Linux
//! no segment is known and every piece is compared by its bytes.

use std::sync::OnceLock;

/// Start and end addresses of the read-only segments of the program.
type Ranges = Box<[(usize, usize)]>;

/// Whether every byte of `text` lies in one read-only segment of the
/// main executable. An empty string is never pinned (its address may be
/// anything).
#[inline]
pub(crate) fn is_pinned(text: &str) -> bool {
    let start = text.as_ptr().addr();
    let Some(end) = start.checked_add(text.len()) else {
        return false;
    };
    !text.is_empty() && read_only_segments().iter().any(|&(lo, hi)| lo <= start && end <= hi)
}

fn read_only_segments() -> &'static [(usize, usize)] {
    static SEGMENTS: OnceLock<Ranges> = OnceLock::new();
    SEGMENTS.get_or_init(find_read_only_segments)
}

#[cfg(target_os = "linux")]
fn find_read_only_segments() -> Ranges {
    unsafe extern "C" fn visit(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        data: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: `data` is the `Vec` passed to `dl_iterate_phdr` below,
        // alive and not otherwise borrowed during the call; `info` and its
        // `dlpi_phnum` program headers are valid for this callback.
        let (ranges, info) = unsafe { (&mut *data.cast::<Vec<(usize, usize)>>(), &*info) };
        let headers = if info.dlpi_phdr.is_null() {
            &[][..]
        } else {
            // SAFETY: as above.
            unsafe { std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) }
        };
        for header in headers {
            if header.p_type != libc::PT_LOAD || header.p_flags & libc::PF_W != 0 {
                continue;
            }
            let (Ok(base), Ok(offset), Ok(size)) = (
                usize::try_from(info.dlpi_addr),
                usize::try_from(header.p_vaddr),
                usize::try_from(header.p_memsz),
            ) else {
                continue;
            };
            if let Some(start) = base.checked_add(offset)
                && let Some(end) = start.checked_add(size)
            {
                ranges.push((start, end));
            }
        }
        // The first object visited is the program itself; shared
        // libraries, which can be unloaded, are not wanted.
        1
    }
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    // SAFETY: `visit` only reads what the loader hands it and writes to
    // `ranges`, which outlives the call.
    unsafe { libc::dl_iterate_phdr(Some(visit), (&raw mut ranges).cast()) };
    ranges.into_boxed_slice()
}

#[cfg(not(target_os = "linux"))]
fn find_read_only_segments() -> Ranges {
    Box::new([])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn literals_are_pinned_and_heap_and_stack_text_is_not() {
        static CONSTANT: &str = "requests_total";
        assert!(is_pinned("a literal"));
        assert!(is_pinned(CONSTANT));
        assert!(!is_pinned(&String::from("on the heap")));
        let stack = *b"on the stack";
        assert!(!is_pinned(std::str::from_utf8(&stack).unwrap()));
        assert!(!is_pinned(""));
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_mutable_static_is_not_pinned() {
        static mut WRITABLE: [u8; 8] = *b"writable";
        // SAFETY: only this test touches it, and only to take its address.
        let bytes = unsafe { std::slice::from_raw_parts((&raw const WRITABLE).cast::<u8>(), 8) };
        assert!(!is_pinned(std::str::from_utf8(bytes).unwrap()));
    }
}
