//! What the app needs of GTK and WebKitGTK directly: whether a window can be opened at all, the
//! native file dialog, and a screenshot of the page (WebKitGTK's snapshot, written as PNG).

use std::path::{Path, PathBuf};

use gtk::prelude::*;
use webkit2gtk::{SnapshotOptions, SnapshotRegion, WebViewExt};

/// Whether a window can be opened here; `Err` says why not.
pub fn display() -> Result<(), String> {
    if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
        return Err(
            "there is no display to open a window on (neither DISPLAY nor WAYLAND_DISPLAY is set)"
                .into(),
        );
    }
    gtk::init().map_err(|e| format!("GTK cannot open the display: {e}"))
}

/// The native file dialog, in `start`: the file chosen (a GGUF, or any file of a Hugging Face
/// set — [`model_of`] makes it a model). `None` if the user closes it.
pub fn pick_model(parent: &gtk::ApplicationWindow, start: &Path) -> Option<PathBuf> {
    let dialog = gtk::FileChooserDialog::with_buttons(
        Some("Open a model"),
        Some(parent),
        gtk::FileChooserAction::Open,
        &[
            ("Cancel", gtk::ResponseType::Cancel),
            ("Open", gtk::ResponseType::Accept),
        ],
    );
    let filter = gtk::FileFilter::new();
    filter.set_name(Some(
        "GGUF, or a Hugging Face set (config.json, *.safetensors)",
    ));
    for p in ["*.gguf", "*.json", "*.safetensors"] {
        filter.add_pattern(p);
    }
    dialog.add_filter(filter);
    if start.is_dir() {
        let _ = dialog.set_current_folder(start);
    }
    let chosen = (dialog.run() == gtk::ResponseType::Accept)
        .then(|| dialog.filename())
        .flatten();
    dialog.close();
    chosen
}

/// The model a chosen file stands for: a GGUF is itself; a file of a Hugging Face set
/// (`config.json`, `tokenizer.json`, a shard) stands for its folder.
pub fn model_of(p: &Path) -> PathBuf {
    let is_gguf = p.extension().is_some_and(|x| x == "gguf");
    match p.parent() {
        Some(dir) if !is_gguf && p.is_file() => dir.to_path_buf(),
        _ => p.to_path_buf(),
    }
}

/// Writes what the window shows to `path` as PNG, then calls `done` (on the GTK thread).
pub fn screenshot(
    webview: &webkit2gtk::WebView,
    path: PathBuf,
    done: impl FnOnce(Result<(), String>) + 'static,
) {
    webview.snapshot(
        SnapshotRegion::Visible,
        SnapshotOptions::NONE,
        None::<&gtk::gio::Cancellable>,
        move |result| {
            let written = result
                .map_err(|e| format!("WebKit gave no snapshot: {e}"))
                .and_then(|surface| {
                    cairo::ImageSurface::try_from(surface)
                        .map_err(|_| "the snapshot is not an image surface".to_string())
                })
                .and_then(|image| {
                    let mut file = std::fs::File::create(&path)
                        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
                    image
                        .write_to_png(&mut file)
                        .map_err(|e| format!("cannot write {}: {e}", path.display()))
                });
            done(written);
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chosen_file_stands_for_its_model() {
        let dir = std::env::temp_dir().join(format!("kiln-app-pick-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let config = dir.join("config.json");
        let gguf = dir.join("m.gguf");
        for f in [&config, &gguf] {
            let _ = std::fs::write(f, b"{}");
        }
        assert_eq!(model_of(&config), dir);
        assert_eq!(model_of(&gguf), gguf);
        assert_eq!(model_of(&dir), dir, "a folder is itself");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
