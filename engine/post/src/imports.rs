//! Imports for integration: which standard-library names each language's code commonly uses
//! without importing, the import line for each in the file's style, and where it goes.

use super::Language;

/// (name, import, used as a module prefix `name.x` / `name::x`) per language.
pub(crate) fn stdlib_table(lang: Language) -> &'static [(&'static str, &'static str, bool)] {
    match lang {
        Language::Python => PYTHON_NAMES,
        Language::JavaScript | Language::TypeScript => JS_NAMES,
        Language::Rust => RUST_NAMES,
        _ => &[],
    }
}

const PYTHON_NAMES: &[(&str, &str, bool)] = &[
    ("math", "math", true),
    ("re", "re", true),
    ("os", "os", true),
    ("sys", "sys", true),
    ("json", "json", true),
    ("itertools", "itertools", true),
    ("functools", "functools", true),
    ("collections", "collections", true),
    ("heapq", "heapq", true),
    ("bisect", "bisect", true),
    ("random", "random", true),
    ("string", "string", true),
    ("time", "time", true),
    ("statistics", "statistics", true),
    ("hashlib", "hashlib", true),
    ("copy", "copy", true),
    ("operator", "operator", true),
    ("List", "typing", false),
    ("Dict", "typing", false),
    ("Tuple", "typing", false),
    ("Set", "typing", false),
    ("Optional", "typing", false),
    ("Any", "typing", false),
    ("Callable", "typing", false),
    ("Iterable", "typing", false),
    ("Iterator", "typing", false),
    ("Union", "typing", false),
    ("Sequence", "typing", false),
    ("defaultdict", "collections", false),
    ("Counter", "collections", false),
    ("deque", "collections", false),
    ("OrderedDict", "collections", false),
    ("namedtuple", "collections", false),
    ("lru_cache", "functools", false),
    ("reduce", "functools", false),
    ("cmp_to_key", "functools", false),
    ("dataclass", "dataclasses", false),
    ("Path", "pathlib", false),
    ("Fraction", "fractions", false),
    ("Decimal", "decimal", false),
    ("permutations", "itertools", false),
    ("combinations", "itertools", false),
    ("accumulate", "itertools", false),
    ("heappush", "heapq", false),
    ("heappop", "heapq", false),
    ("heapify", "heapq", false),
    ("bisect_left", "bisect", false),
    ("bisect_right", "bisect", false),
];

const JS_NAMES: &[(&str, &str, bool)] = &[
    ("fs", "node:fs", true),
    ("path", "node:path", true),
    ("os", "node:os", true),
    ("crypto", "node:crypto", true),
    ("util", "node:util", true),
    ("assert", "node:assert", false),
    ("readline", "node:readline", true),
    ("EventEmitter", "node:events", false),
    ("readFileSync", "node:fs", false),
    ("writeFileSync", "node:fs", false),
    ("existsSync", "node:fs", false),
];

const RUST_NAMES: &[(&str, &str, bool)] = &[
    ("HashMap", "std::collections::HashMap", false),
    ("HashSet", "std::collections::HashSet", false),
    ("BTreeMap", "std::collections::BTreeMap", false),
    ("BTreeSet", "std::collections::BTreeSet", false),
    ("VecDeque", "std::collections::VecDeque", false),
    ("BinaryHeap", "std::collections::BinaryHeap", false),
    ("Ordering", "std::cmp::Ordering", false),
    ("Reverse", "std::cmp::Reverse", false),
    ("Rc", "std::rc::Rc", false),
    ("RefCell", "std::cell::RefCell", false),
    ("Cell", "std::cell::Cell", false),
    ("Arc", "std::sync::Arc", false),
    ("Mutex", "std::sync::Mutex", false),
    ("RwLock", "std::sync::RwLock", false),
    ("FromStr", "std::str::FromStr", false),
    ("PathBuf", "std::path::PathBuf", false),
    ("Duration", "std::time::Duration", false),
    ("Instant", "std::time::Instant", false),
    ("fmt", "std::fmt", true),
    ("io", "std::io", true),
    ("mem", "std::mem", true),
    ("thread", "std::thread", true),
];

/// The import statement for `name` from `module`, in the file's style.
pub(crate) fn import_line(lang: Language, name: &str, module: &str, file: &str) -> String {
    match lang {
        Language::Python if name == module => format!("import {name}"),
        Language::Python => format!("from {module} import {name}"),
        Language::Rust => format!("use {module};"),
        _ if file.contains("require(") => {
            let binding = if name == "fs" || name == "assert" || module.ends_with(name) {
                name.to_string()
            } else {
                format!("{{ {name} }}")
            };
            format!("const {binding} = require(\"{module}\");")
        }
        _ if module.ends_with(name) || name == "assert" => {
            format!("import * as {name} from \"{module}\";")
        }
        _ => format!("import {{ {name} }} from \"{module}\";"),
    }
}

/// Where new imports go in `prefix`: after its last top-level import, else after a shebang,
/// leading comments, a module docstring or inner attributes.
pub(crate) fn import_position(prefix: &str, lang: Language) -> usize {
    let mut after_imports = None;
    let mut header_end = 0;
    let mut in_header = true;
    let mut offset = 0;
    let mut open_paren = false;
    for line in prefix.split_inclusive('\n') {
        let end = offset + line.len();
        offset = end;
        if !line.ends_with('\n') {
            break; // a partial last line is where the cursor is
        }
        let t = line.trim_end();
        let is_import = match lang {
            Language::Python => t.starts_with("import ") || t.starts_with("from "),
            Language::Rust => t.starts_with("use ") || t.starts_with("pub use "),
            _ => t.starts_with("import ") || t.contains("= require("),
        };
        if is_import || open_paren {
            open_paren =
                (open_paren || t.ends_with('(') || t.ends_with('{')) && !t.contains([')', '}']);
            after_imports = Some(end);
            in_header = false;
            continue;
        }
        let is_header = t.is_empty()
            || t.starts_with('#') && lang == Language::Python
            || t.starts_with("#!")
            || t.starts_with("//")
            || t.starts_with("'use strict'")
            || t.starts_with("\"use strict\"");
        if in_header && is_header {
            header_end = end;
        } else {
            in_header = false;
        }
    }

    after_imports.unwrap_or(header_end)
}
