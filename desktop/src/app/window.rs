//! The window: tao's event loop and window, wry's webview on the app's own scheme, and the wiring
//! between the page and the native engine. The page's messages arrive through the webview's IPC
//! (refused unless the page is the app's own); the engine's answers go back as calls of
//! `window.__kilnReceive`, made on this thread from the event loop.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use kiln_web::protocol::{FromWorker, ToWorker, decode, encode};
use tao::dpi::LogicalSize;
use tao::event::{Event, WindowEvent};
use tao::event_loop::{ControlFlow, EventLoopBuilder, EventLoopProxy};
use tao::platform::run_return::EventLoopExtRunReturn;
use tao::window::WindowBuilder;
use wry::http::Request;
use wry::{DragDropEvent, NewWindowResponse, WebViewBuilder};

use super::assets;
use super::engine::NativeEngine;
use crate::files;

/// The prefix of a `--drive` script's report (the only message that is not protocol JSON).
const DRIVE: &str = "kiln-drive:";

/// What reaches the event loop from the page, the engine and WebKit.
enum UserEvent {
    /// A message for the page (protocol JSON).
    ToUi(String),
    /// The page's UI is up and listening.
    Connected,
    /// The page asked for the file dialog.
    Pick,
    /// A model path, dropped on the window or chosen in the file dialog.
    Chosen(PathBuf),
    /// The `--drive` script reported.
    Driven(String),
    /// The screenshot was written, or why not.
    Shot(Result<(), String>),
}

/// How the window is opened and, for tests, driven.
pub struct WindowOptions {
    /// JavaScript evaluated in the page once its UI is listening; it reports by posting
    /// `kiln-drive:<json>` through `window.ipc`, and the app prints the JSON and exits.
    pub drive: Option<String>,
    /// Where to save a screenshot after the drive script reports.
    pub screenshot: Option<PathBuf>,
    /// The query the page is opened with (the playground's settings, e.g. `?device=cpu`).
    pub query: String,
}

/// Opens the window and runs until it is closed (or the drive script has reported).
pub fn run(opts: WindowOptions) -> Result<()> {
    let t0 = Instant::now();
    let mut event_loop = EventLoopBuilder::<UserEvent>::with_user_event().build();
    let proxy = event_loop.create_proxy();
    let window = WindowBuilder::new()
        .with_title("kiln — local code generation")
        .with_inner_size(LogicalSize::new(1280.0, 860.0))
        .build(&event_loop)
        .context("cannot open the window")?;
    let to_ui = proxy.clone();
    let engine = NativeEngine::start(move |msg: FromWorker| {
        let _ = to_ui.send_event(UserEvent::ToUi(encode(&msg)));
    })
    .context("cannot start the engine thread")?;
    let driving = opts.drive.is_some();
    let builder = WebViewBuilder::new()
        .with_custom_protocol(assets::SCHEME.into(), |_id, req: Request<Vec<u8>>| {
            assets::respond(req.uri())
        })
        .with_url(format!("{}{}", assets::START, opts.query))
        .with_navigation_handler(|url| {
            let ok = assets::is_app_url(&url);
            if !ok {
                eprintln!("kiln app: blocked navigation to {url}");
            }
            ok
        })
        .with_new_window_req_handler(|url, _| {
            eprintln!("kiln app: blocked a new window for {url}");
            NewWindowResponse::Deny
        })
        .with_download_started_handler(|url, dest| {
            let ok = assets::is_app_url(&url);
            if ok {
                eprintln!("kiln app: saving {}", dest.display());
            }
            ok
        })
        .with_ipc_handler(ipc_handler(engine.clone(), proxy.clone(), driving))
        .with_drag_drop_handler({
            let proxy = proxy.clone();
            move |ev| {
                if let DragDropEvent::Drop { paths, .. } = ev
                    && let Some(p) = paths.first()
                {
                    let _ = proxy.send_event(UserEvent::Chosen(p.clone()));
                }
                // The page never sees the drop: a path, not the bytes, goes to the engine.
                true
            }
        })
        .with_clipboard(true);
    #[cfg(target_os = "linux")]
    let webview = {
        use tao::platform::unix::WindowExtUnix;
        use wry::WebViewBuilderExtUnix;
        let vbox = window
            .default_vbox()
            .ok_or_else(|| anyhow!("the window has no GTK box for the webview"))?;
        builder.build_gtk(vbox)
    };
    #[cfg(not(target_os = "linux"))]
    let webview = builder.build(&window);
    let webview = webview.context("cannot create the webview")?;

    let mut connected = false;
    let mut outcome: Result<()> = Ok(());
    event_loop.run_return(|event, _, flow| {
        *flow = ControlFlow::Wait;
        match event {
            Event::UserEvent(UserEvent::ToUi(json)) => {
                // A JSON string literal is a JavaScript string literal.
                let arg = serde_json::to_string(&json).unwrap_or_default();
                let _ = webview.evaluate_script(&format!(
                    "window.__kilnReceive && window.__kilnReceive({arg})"
                ));
            }
            Event::UserEvent(UserEvent::Connected) => {
                if !connected {
                    connected = true;
                    eprintln!(
                        "kiln app: window ready in {:.0} ms (UI loaded from the embedded assets, engine connected)",
                        t0.elapsed().as_secs_f64() * 1000.0
                    );
                    if let Some(js) = &opts.drive {
                        let _ = webview.evaluate_script(js);
                    }
                }
                engine.send(ToWorker::Hello);
            }
            Event::UserEvent(UserEvent::Pick) => {
                #[cfg(target_os = "linux")]
                {
                    use tao::platform::unix::WindowExtUnix;
                    if let Some(p) = super::linux::pick_model(window.gtk_window(), &files::model_dir()) {
                        let _ = proxy.send_event(UserEvent::Chosen(p));
                    }
                }
            }
            Event::UserEvent(UserEvent::Chosen(p)) => {
                #[cfg(target_os = "linux")]
                let p = super::linux::model_of(&p);
                let msg = FromWorker::ModelChosen {
                    path: p.display().to_string(),
                };
                let _ = proxy.send_event(UserEvent::ToUi(encode(&msg)));
            }
            Event::UserEvent(UserEvent::Driven(report)) => {
                eprintln!(
                    "kiln app: the drive script reported after {:.0} ms",
                    t0.elapsed().as_secs_f64() * 1000.0
                );
                println!("{report}");
                match &opts.screenshot {
                    #[cfg(target_os = "linux")]
                    Some(path) => {
                        use wry::WebViewExtUnix;
                        let proxy = proxy.clone();
                        super::linux::screenshot(&webview.webview(), path.clone(), move |r| {
                            let _ = proxy.send_event(UserEvent::Shot(r));
                        });
                    }
                    _ => *flow = ControlFlow::Exit,
                }
            }
            Event::UserEvent(UserEvent::Shot(r)) => {
                match (r, &opts.screenshot) {
                    (Ok(()), Some(p)) => eprintln!("kiln app: screenshot saved to {}", p.display()),
                    (Err(e), _) => outcome = Err(anyhow!("screenshot: {e}")),
                    _ => {}
                }
                *flow = ControlFlow::Exit;
            }
            Event::WindowEvent {
                event: WindowEvent::CloseRequested,
                ..
            } => *flow = ControlFlow::Exit,
            _ => {}
        }
    });
    outcome
}

/// The page's messages: refused unless they come from the app's own page; `Cancel` straight to
/// the engine's flag, `Hello` and the file dialog to the event loop, the rest to the engine.
fn ipc_handler(
    engine: NativeEngine,
    proxy: EventLoopProxy<UserEvent>,
    driving: bool,
) -> impl Fn(Request<String>) + 'static {
    move |req: Request<String>| {
        let from = req.uri().to_string();
        if !assets::is_app_url(&from) {
            eprintln!("kiln app: refused a message from {from}");
            return;
        }
        let body = req.body();
        if let Some(report) = body.strip_prefix(DRIVE) {
            if driving {
                let _ = proxy.send_event(UserEvent::Driven(report.to_string()));
            }
            return;
        }
        match decode::<ToWorker>(body) {
            Ok(ToWorker::Hello) => {
                let _ = proxy.send_event(UserEvent::Connected);
            }
            Ok(ToWorker::PickModel) => {
                let _ = proxy.send_event(UserEvent::Pick);
            }
            Ok(msg) => engine.send(msg),
            Err(message) => {
                let msg = FromWorker::Error { id: None, message };
                let _ = proxy.send_event(UserEvent::ToUi(encode(&msg)));
            }
        }
    }
}
