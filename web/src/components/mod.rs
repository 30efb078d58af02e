//! The playground's Leptos components, one per file: the model panel, the prompt and its
//! settings, the generation's output and token view, its post-processing report with the test
//! runs, code with its errors marked (shared by both views), and the temperature lab (controls and charts; the columns of lanes).

pub mod code;
pub mod lab;
pub mod lab_columns;
pub mod model_panel;
pub mod output;
pub mod prompt_panel;
pub mod report;
