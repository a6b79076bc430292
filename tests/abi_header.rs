//! Checks of `include/libaio.h` against libaio's own header and the kernel ABI.
//!
//! The C sources live in `tests/abi/`:
//!
//! - `layout.c` holds `_Static_assert`s on every size, offset, member type
//!   and constant; it must compile against our header and against the
//!   system's `/usr/include/libaio.h`, which shows the two layouts are equal;
//! - `fnptr.c` takes the address of every library function through a pointer
//!   of libaio's exact type and calls every inline helper; it must compile as
//!   C and as C++, and, built with `-DFNPTR_RUN`, print the same bytes with
//!   either header.
//!
//! The remaining tests read the headers as text: the two must declare the
//! same public names, and must declare the same structures on every target
//! family libaio knows (checked by preprocessing both for each one).
//!
//! The system header comes from the libaio-dev package; without it these
//! tests fail rather than skip.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SYSTEM_HEADER: &str = "/usr/include/libaio.h";

/// Warnings that every compile uses, so that any diagnostic fails the test.
const STRICT: &[&str] = &["-Wall", "-Wextra", "-Werror"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn our_header() -> PathBuf {
    root().join("include/libaio.h")
}

fn abi_source(name: &str) -> PathBuf {
    root().join("tests/abi").join(name)
}

/// The contents of libaio's installed header; its absence is a failure.
fn system_header() -> String {
    match fs::read_to_string(SYSTEM_HEADER) {
        Ok(text) => text,
        Err(err) => panic!(
            "cannot read {SYSTEM_HEADER} ({err}); install libaio-dev \
             (e.g. `apt-get install libaio-dev`): these tests compare \
             include/libaio.h with it"
        ),
    }
}

fn our_header_text() -> String {
    let path = our_header();
    fs::read_to_string(&path).unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()))
}

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("abi_header")
        .join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap_or_else(|err| panic!("cannot create {}: {err}", dir.display()));
    dir
}

/// Which `libaio.h` a compile sees.
#[derive(Clone, Copy, Debug)]
enum Header {
    /// `include/libaio.h`, put first on the include path.
    Ours,
    /// `/usr/include/libaio.h`, found through the default include path.
    System,
}

impl Header {
    fn args(self) -> Vec<OsString> {
        match self {
            Header::Ours => vec!["-I".into(), root().join("include").into()],
            Header::System => {
                system_header();
                Vec::new()
            }
        }
    }
}

fn c_compiler() -> String {
    std::env::var("CC").unwrap_or_else(|_| "cc".to_string())
}

fn cxx_compiler() -> String {
    std::env::var("CXX").unwrap_or_else(|_| "g++".to_string())
}

fn run(program: &str, args: &[OsString]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|err| {
            panic!("cannot run `{program}` ({err}); a C and C++ compiler are required")
        })
}

fn render(program: &str, args: &[OsString]) -> String {
    let mut line = program.to_string();
    for arg in args {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    line
}

/// Runs a compiler; any failure fails the test with the compiler's output.
fn compile(program: &str, args: Vec<OsString>) {
    let out = run(program, &args);
    if !out.status.success() {
        panic!(
            "compile failed ({}):\n$ {}\n{}{}",
            out.status,
            render(program, &args),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn os(items: &[&str]) -> Vec<OsString> {
    items.iter().map(OsString::from).collect()
}

/// Compiles `source` to an object file in `dir` (`-c`).
fn compile_only(program: &str, lang: &[&str], header: Header, source: &Path, dir: &Path) {
    let mut args = os(lang);
    args.extend(os(STRICT));
    args.extend(header.args());
    args.push("-c".into());
    args.push(source.into());
    args.push("-o".into());
    args.push(dir.join("out.o").into());
    compile(program, args);
}

// ---------------------------------------------------------------------------
// layout.c

#[test]
fn layout_asserts_hold_for_our_header() {
    let dir = scratch("layout_ours");
    compile_only(
        &c_compiler(),
        &["-std=c11", "-pedantic"],
        Header::Ours,
        &abi_source("layout.c"),
        &dir,
    );
}

#[test]
fn layout_asserts_hold_for_system_header_too() {
    let dir = scratch("layout_system");
    compile_only(
        &c_compiler(),
        &["-std=gnu11"],
        Header::System,
        &abi_source("layout.c"),
        &dir,
    );
}

// ---------------------------------------------------------------------------
// fnptr.c

#[test]
fn fnptr_compiles_as_c99_against_our_header() {
    let dir = scratch("fnptr_c99");
    compile_only(
        &c_compiler(),
        &["-std=c99", "-pedantic"],
        Header::Ours,
        &abi_source("fnptr.c"),
        &dir,
    );
}

#[test]
fn fnptr_compiles_as_gnu11_against_our_header() {
    let dir = scratch("fnptr_gnu11");
    compile_only(
        &c_compiler(),
        &["-std=gnu11"],
        Header::Ours,
        &abi_source("fnptr.c"),
        &dir,
    );
}

#[test]
fn fnptr_compiles_as_cxx11_against_our_header() {
    let dir = scratch("fnptr_cxx11");
    compile_only(
        &cxx_compiler(),
        &["-x", "c++", "-std=c++11", "-pedantic"],
        Header::Ours,
        &abi_source("fnptr.c"),
        &dir,
    );
}

/// The function types fnptr.c spells out are libaio's own.
#[test]
fn fnptr_compiles_as_c_and_cxx_against_system_header() {
    let dir = scratch("fnptr_system");
    compile_only(
        &c_compiler(),
        &["-std=gnu11"],
        Header::System,
        &abi_source("fnptr.c"),
        &dir,
    );
    compile_only(
        &cxx_compiler(),
        &["-x", "c++", "-std=c++11"],
        Header::System,
        &abi_source("fnptr.c"),
        &dir,
    );
}

/// Builds fnptr.c with `-DFNPTR_RUN`, linked with the system libaio (its
/// io_submit is replaced inside the program, so no I/O is done), and returns
/// what it prints.
fn helper_dump(header: Header, dir: &Path) -> String {
    let exe = dir.join(format!("fnptr_{header:?}"));
    let mut args = os(&["-std=gnu11", "-DFNPTR_RUN"]);
    args.extend(os(STRICT));
    args.extend(header.args());
    args.push(abi_source("fnptr.c").into());
    args.push("-o".into());
    args.push(exe.clone().into());
    args.push("-laio".into());
    compile(&c_compiler(), args);
    let out = Command::new(&exe)
        .output()
        .unwrap_or_else(|err| panic!("cannot run {}: {err}", exe.display()));
    assert!(
        out.status.success(),
        "{} failed ({}):\n{}",
        exe.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("fnptr prints ASCII")
}

#[test]
fn inline_helpers_behave_like_system_header() {
    system_header();
    let dir = scratch("helpers");
    let ours = helper_dump(Header::Ours, &dir);
    let system = helper_dump(Header::System, &dir);
    assert!(
        ours.contains("pointers: all set"),
        "unexpected output:\n{ours}"
    );
    if ours != system {
        let mut report = String::new();
        for (a, b) in ours.lines().zip(system.lines()) {
            if a != b {
                report.push_str(&format!("  ours:   {a}\n  libaio: {b}\n"));
            }
        }
        panic!(
            "the inline helpers differ from libaio's:\n{report}\nfull output with our header:\n{ours}\n\
             with the system header:\n{system}"
        );
    }
}

// ---------------------------------------------------------------------------
// Names declared by the two headers

/// The public names a header provides, read from its text.
#[derive(Debug, Default)]
struct Names {
    inlines: BTreeSet<String>,
    functions: BTreeSet<String>,
    /// Macros still defined at the end of the header (neither `#undef`'d
    /// nor the include guard).
    macros: BTreeSet<String>,
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The identifier at the start of `s`.
fn leading_ident(s: &str) -> &str {
    let end = s.bytes().position(|b| !is_ident_byte(b)).unwrap_or(s.len());
    &s[..end]
}

/// The last identifier before the first `(` of a declaration line.
fn declared_name(line: &str) -> Option<String> {
    let head = &line[..line.find('(')?];
    let head = head.trim_end();
    let start = head
        .bytes()
        .rposition(|b| !is_ident_byte(b))
        .map_or(0, |p| p + 1);
    let name = &head[start..];
    (!name.is_empty()).then(|| name.to_string())
}

/// The name of a `#define` or `#undef` line (`directive` without `#`).
fn directive_name<'a>(line: &'a str, directive: &str) -> Option<&'a str> {
    let rest = line.strip_prefix('#')?.trim_start();
    let rest = rest.strip_prefix(directive)?;
    if !rest.starts_with([' ', '\t']) {
        return None;
    }
    let name = leading_ident(rest.trim_start());
    (!name.is_empty()).then_some(name)
}

fn scan_names(text: &str) -> Names {
    let mut names = Names::default();
    let mut defined = BTreeSet::new();
    let mut undefined = BTreeSet::new();
    let mut guard = None;
    for raw in text.lines() {
        let line = raw.trim();
        if let Some(rest) = line.strip_prefix("static inline ") {
            if let Some(name) = declared_name(rest) {
                names.inlines.insert(name);
            }
        } else if line.starts_with("extern ") && line.contains('(') {
            if let Some(name) = declared_name(line) {
                names.functions.insert(name);
            }
        } else if let Some(name) = directive_name(line, "ifndef") {
            guard.get_or_insert_with(|| name.to_string());
        } else if let Some(name) = directive_name(line, "define") {
            defined.insert(name.to_string());
        } else if let Some(name) = directive_name(line, "undef") {
            undefined.insert(name.to_string());
        }
    }
    names.macros = defined
        .into_iter()
        .filter(|name| !undefined.contains(name) && Some(name) != guard.as_ref())
        .collect();
    names
}

fn missing<'a>(wanted: &'a BTreeSet<String>, have: &'a BTreeSet<String>) -> Vec<&'a str> {
    wanted.difference(have).map(String::as_str).collect()
}

#[test]
fn every_system_inline_function_and_macro_is_in_our_header() {
    let system = scan_names(&system_header());
    let ours = scan_names(&our_header_text());
    assert!(
        system.inlines.len() >= 10 && system.functions.len() >= 9,
        "the scan of {SYSTEM_HEADER} found too little: {system:?}"
    );
    let lacking_inlines = missing(&system.inlines, &ours.inlines);
    let lacking_functions = missing(&system.functions, &ours.functions);
    let lacking_macros = missing(&system.macros, &ours.macros);
    assert!(
        lacking_inlines.is_empty() && lacking_functions.is_empty() && lacking_macros.is_empty(),
        "include/libaio.h lacks names {SYSTEM_HEADER} provides:\n  inline functions: {lacking_inlines:?}\n  \
         functions: {lacking_functions:?}\n  macros: {lacking_macros:?}"
    );
}

/// A name libaio's header does not define can clash with the program's own
/// definition: programs commonly `#define IOCB_FLAG_RESFD` themselves after
/// including <libaio.h>, and a second definition spelt differently is a
/// redefinition warning, fatal under -Werror.
#[test]
fn our_header_defines_no_public_name_libaio_lacks() {
    let system = scan_names(&system_header());
    let ours = scan_names(&our_header_text());
    let extra_inlines = missing(&ours.inlines, &system.inlines);
    let extra_functions = missing(&ours.functions, &system.functions);
    let extra_macros = missing(&ours.macros, &system.macros);
    assert!(
        extra_inlines.is_empty() && extra_functions.is_empty() && extra_macros.is_empty(),
        "include/libaio.h provides names {SYSTEM_HEADER} does not (internal macros must be \
         #undef'd at the end):\n  inline functions: {extra_inlines:?}\n  functions: \
         {extra_functions:?}\n  macros: {extra_macros:?}"
    );
}

// ---------------------------------------------------------------------------
// Structure declarations on every target family

/// Predefined-macro sets naming the architectures the headers test for.
const ARCHES: &[&[&str]] = &[
    &[],
    // 32-bit little-endian
    &["__i386__"],
    &["__x86_64__", "__ILP32__"],
    &["__arm__"],
    &["__sh__", "__LITTLE_ENDIAN__"],
    &["__bfin__"],
    &["__MIPSEL__"],
    &["__cris__"],
    &["__loongarch32"],
    &["__riscv", "__riscv_xlen=32"],
    // 64-bit little-endian
    &["__ia64__"],
    &["__x86_64__"],
    &["__alpha__"],
    &["__mips64", "__MIPSEL__"],
    &["__aarch64__", "__AARCH64EL__"],
    &["__loongarch64"],
    &["__riscv", "__riscv_xlen=64"],
    // 64-bit big-endian
    &["__powerpc64__"],
    &["__powerpc64__", "__PPC__"],
    &["__s390x__"],
    &["__s390x__", "__s390__"],
    &["__hppa__", "__arch64__"],
    &["__sparc__", "__arch64__"],
    &["__mips64", "__MIPSEB__"],
    &["__aarch64__", "__AARCH64EB__"],
    // 32-bit big-endian
    &["__PPC__"],
    &["__s390__"],
    &["__arm__", "__ARMEB__"],
    &["__sh__", "__BIG_ENDIAN__"],
    &["__sparc__"],
    &["__MIPSEB__"],
    &["__m68k__"],
    &["__hppa__"],
    &["__frv__"],
    &["__avr32__"],
    // incomplete descriptions, left to the generic test (or to #error)
    &["__sh__"],
    &["__aarch64__"],
    &["__mips64"],
    &["__riscv"],
];

/// What a GCC-compatible compiler adds: byte order and size of `long`.
const GENERIC: &[&[&str]] = &[
    &[],
    &["__BYTE_ORDER__=1234", "__SIZEOF_LONG__=4"],
    &["__BYTE_ORDER__=1234", "__SIZEOF_LONG__=8"],
    &["__BYTE_ORDER__=4321", "__SIZEOF_LONG__=4"],
    &["__BYTE_ORDER__=4321", "__SIZEOF_LONG__=8"],
];

const STRUCTS: &[&str] = &[
    "io_iocb_poll",
    "io_iocb_sockaddr",
    "io_iocb_common",
    "io_iocb_vector",
    "iocb",
    "io_event",
    "io_sigset",
    "io_sigset_compat",
];

/// Minimal stand-ins for the system headers <libaio.h> includes, so that it
/// can be preprocessed for a foreign target.
fn write_stub_headers(dir: &Path) {
    fs::create_dir_all(dir.join("sys")).expect("create stub dir");
    fs::write(dir.join("sys/types.h"), "typedef unsigned long size_t;\n").expect("write stub");
    fs::write(dir.join("string.h"), "void *memset(void *, int, size_t);\n").expect("write stub");
    fs::write(
        dir.join("signal.h"),
        "typedef struct { unsigned long v[16]; } sigset_t;\n",
    )
    .expect("write stub");
}

/// Preprocesses `header` for a target described by `defines`; `None` if the
/// header rejects the target.
fn preprocess(header: &Path, stubs: &Path, defines: &[&str]) -> Option<String> {
    let mut args = os(&["-E", "-P", "-undef", "-nostdinc", "-x", "c"]);
    args.push("-I".into());
    args.push(stubs.into());
    for define in defines {
        args.push(format!("-D{define}").into());
    }
    args.push(header.into());
    let out = run(&c_compiler(), &args);
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("#error"),
            "preprocessing failed for another reason than #error:\n$ {}\n{stderr}",
            render(&c_compiler(), &args)
        );
        return None;
    }
    Some(String::from_utf8(out.stdout).expect("preprocessed header is ASCII"))
}

fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_whitespace() {
            i += 1;
        } else if is_ident_byte(b) {
            let start = i;
            while i < bytes.len() && is_ident_byte(bytes[i]) {
                i += 1;
            }
            out.push(text[start..i].to_string());
        } else {
            out.push((b as char).to_string());
            i += 1;
        }
    }
    out
}

/// The members of `struct name { ... }`, one declarator per entry, so that
/// `int a, b;` and `int a; int b;` compare equal; nested braces are kept as
/// entries of their own.
fn struct_members(toks: &[String], name: &str) -> Option<Vec<String>> {
    let start = toks
        .windows(3)
        .position(|w| w[0] == "struct" && w[1] == name && w[2] == "{")?
        + 3;
    let mut depth = 1;
    let mut end = start;
    while depth > 0 {
        match toks.get(end)?.as_str() {
            "{" => depth += 1,
            "}" => depth -= 1,
            _ => {}
        }
        end += 1;
    }
    let mut members = Vec::new();
    let mut decl: Vec<&str> = Vec::new();
    for tok in &toks[start..end - 1] {
        match tok.as_str() {
            ";" => {
                members.extend(split_declaration(&decl));
                decl.clear();
            }
            "{" | "}" => {
                members.extend(split_declaration(&decl));
                decl.clear();
                members.push(tok.clone());
            }
            other => decl.push(other),
        }
    }
    members.extend(split_declaration(&decl));
    Some(members)
}

fn split_declaration(decl: &[&str]) -> Vec<String> {
    if decl.is_empty() {
        return Vec::new();
    }
    let mut chunks = decl.split(|t| *t == ",");
    let first = chunks.next().unwrap_or_default();
    // The base type is the first declarator without its name and stars.
    let mut type_end = first.len().saturating_sub(1);
    while type_end > 0 && first[type_end - 1] == "*" {
        type_end -= 1;
    }
    let base = first[..type_end].join(" ");
    let mut out = vec![first.join(" ")];
    for chunk in chunks {
        out.push(format!("{base} {}", chunk.join(" ")));
    }
    out
}

fn enum_body(toks: &[String]) -> Option<Vec<String>> {
    let start = toks
        .windows(3)
        .position(|w| w[0] == "enum" && w[1] == "io_iocb_cmd" && w[2] == "{")?;
    let end = start + toks[start..].iter().position(|t| t == "}")?;
    Some(toks[start..=end].to_vec())
}

/// The declarations compared between the two headers, by name.
fn declarations(preprocessed: &str) -> Vec<(String, Option<Vec<String>>)> {
    let toks = tokens(preprocessed);
    let mut out: Vec<_> = STRUCTS
        .iter()
        .map(|name| (format!("struct {name}"), struct_members(&toks, name)))
        .collect();
    out.push(("enum io_iocb_cmd".to_string(), enum_body(&toks)));
    out
}

#[test]
fn struct_declarations_match_system_header_on_every_target_family() {
    system_header();
    let dir = scratch("targets");
    let stubs = dir.join("stubs");
    write_stub_headers(&stubs);
    let mut failures = Vec::new();
    let mut accepted = 0;
    for arch in ARCHES {
        for generic in GENERIC {
            let mut defines: Vec<&str> = arch.to_vec();
            if !generic.is_empty() {
                defines.extend([
                    "__GNUC__=4",
                    "__ORDER_LITTLE_ENDIAN__=1234",
                    "__ORDER_BIG_ENDIAN__=4321",
                ]);
                defines.extend(generic.iter());
            }
            let ours = preprocess(&our_header(), &stubs, &defines);
            let system = preprocess(Path::new(SYSTEM_HEADER), &stubs, &defines);
            match (ours, system) {
                (None, None) => {}
                (Some(_), None) => failures.push(format!(
                    "{defines:?}: libaio rejects the target, ours accepts it"
                )),
                (None, Some(_)) => failures.push(format!(
                    "{defines:?}: ours rejects the target, libaio accepts it"
                )),
                (Some(ours), Some(system)) => {
                    accepted += 1;
                    for ((what, a), (_, b)) in
                        declarations(&ours).into_iter().zip(declarations(&system))
                    {
                        if a.is_none() || a != b {
                            failures.push(format!(
                                "{defines:?}: {what} differs:\n    ours:   {a:?}\n    libaio: {b:?}"
                            ));
                        }
                    }
                }
            }
        }
    }
    assert!(
        accepted > ARCHES.len(),
        "too few targets were accepted ({accepted}); the comparison is not meaningful"
    );
    assert!(
        failures.is_empty(),
        "declarations differ from libaio's:\n{}",
        failures.join("\n")
    );
}
