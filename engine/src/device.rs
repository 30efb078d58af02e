//! Backend choice: burn's Flex on the CPU, or wgpu (Vulkan/Metal/DX12 natively, WebGPU in the
//! browser), always initialised asynchronously. The only file with `cfg(target_arch = "wasm32")`.

use burn::prelude::*;
#[cfg(feature = "gpu")]
use burn::tensor::wgpu::wgpu::DeviceType;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// A GPU adapter if there is one (natively: not a software rasteriser), else the CPU.
    #[default]
    Auto,
    /// burn's Flex CPU backend.
    Cpu,
    /// wgpu on whatever adapter the platform offers (lavapipe and SwiftShader count).
    Gpu,
}

impl std::str::FromStr for DeviceChoice {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "gpu" | "wgpu" => Ok(Self::Gpu),
            other => Err(Error::Param {
                name: "device",
                value: other.to_string(),
                expected: "auto, cpu or gpu",
            }),
        }
    }
}

impl DeviceChoice {
    /// The name [`FromStr`](std::str::FromStr) reads back ("auto", "cpu", "gpu").
    pub fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Cpu => "cpu",
            Self::Gpu => "gpu",
        }
    }
}

/// What was chosen, for display.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// "cpu" or "wgpu".
    pub backend: String,
    /// Adapter name (e.g. "llvmpipe (LLVM 15.0.6, 256 bits)") or "Flex".
    pub name: String,
    /// wgpu's adapter type ("Cpu", "DiscreteGpu", ...) or "Cpu".
    pub adapter_type: String,
    /// Why `auto` chose what it chose, if it had to fall back.
    pub note: Option<String>,
}

/// wgpu can be initialised once per process: keep what the first call got.
#[cfg(feature = "gpu")]
static WGPU: std::sync::Mutex<Option<(Device, DeviceInfo)>> = std::sync::Mutex::new(None);

#[cfg(feature = "gpu")]
async fn wgpu_device() -> Result<(Device, DeviceInfo)> {
    if let Ok(guard) = WGPU.lock()
        && let Some(d) = guard.as_ref()
    {
        return Ok(d.clone());
    }
    let (device, setup) = Device::wgpu_options()
        .init_with_setup_async()
        .await
        .map_err(|e| Error::Device(format!("no usable wgpu adapter: {e}")))?;
    let a = setup.adapter.get_info();
    let info = DeviceInfo {
        backend: "wgpu".into(),
        name: format!("{} ({:?})", a.name, a.backend),
        adapter_type: format!("{:?}", a.device_type),
        note: None,
    };
    if let Ok(mut guard) = WGPU.lock() {
        *guard = Some((device.clone(), info.clone()));
    }
    Ok((device, info))
}

/// Without the `gpu` feature there is no wgpu backend to ask.
#[cfg(not(feature = "gpu"))]
async fn wgpu_device() -> Result<(Device, DeviceInfo)> {
    Err(Error::Device(NO_GPU_BUILD.into()))
}

/// Why a build without the `gpu` feature has no GPU device, and how to get one.
pub const NO_GPU_BUILD: &str = "this kiln was built without the GPU backend (cargo feature `gpu`): \
     build it with `cargo build -p kiln --features gpu`, or run `scripts/run.sh --gpu`";

/// Whether this build has the wgpu backend (cargo feature `gpu`).
pub fn has_gpu_backend() -> bool {
    cfg!(feature = "gpu")
}

fn cpu_device(note: Option<String>) -> (Device, DeviceInfo) {
    let info = DeviceInfo {
        backend: "cpu".into(),
        name: "Flex".into(),
        adapter_type: "Cpu".into(),
        note,
    };
    (Device::flex(), info)
}

/// Initialises the device the user chose.
pub async fn init(choice: DeviceChoice) -> Result<(Device, DeviceInfo)> {
    match choice {
        DeviceChoice::Cpu => Ok(cpu_device(None)),
        DeviceChoice::Gpu => wgpu_device().await,
        #[cfg(not(feature = "gpu"))]
        DeviceChoice::Auto => Ok(cpu_device(Some(
            "a CPU-only build (`scripts/run.sh --gpu` or `cargo build -p kiln --features gpu` adds the wgpu backend)".into(),
        ))),
        #[cfg(feature = "gpu")]
        DeviceChoice::Auto => match wgpu_device().await {
            Ok((device, info)) if accept_for_auto(&info) => Ok((device, info)),
            Ok((_, info)) => Ok(cpu_device(Some(format!(
                "the only GPU adapter is the software rasteriser {}; using the CPU backend (force it with --device gpu)",
                info.name
            )))),
            Err(e) => Ok(cpu_device(Some(format!("{e}; using the CPU backend")))),
        },
    }
}

/// Natively, a CPU-type adapter (lavapipe) is slower than Flex; in the browser WebGPU is still
/// the better path even on SwiftShader, since the wasm CPU backend has no threads.
#[cfg(feature = "gpu")]
fn accept_for_auto(info: &DeviceInfo) -> bool {
    cfg!(target_arch = "wasm32") || info.adapter_type != format!("{:?}", DeviceType::Cpu)
}

/// Lets the host's event loop run once. In a browser worker the CPU backend never awaits
/// anything real, so without this a `Cancel` message (or any other) could not be delivered until
/// generation ended; a zero-delay timer yields to the event loop (browsers clamp nested timers to
/// ≥ 4 ms, small next to a CPU token). Natively it does nothing: the caller's thread is its own.
pub async fn yield_now() {
    #[cfg(target_arch = "wasm32")]
    {
        use js_sys::wasm_bindgen::{JsCast, JsValue};
        use js_sys::{Function, Promise, Reflect};
        let tick = Promise::new(&mut |resolve: Function, _reject: Function| {
            let timer = Reflect::get(&js_sys::global(), &JsValue::from_str("setTimeout"))
                .ok()
                .and_then(|f| f.dyn_into::<Function>().ok());
            let scheduled =
                timer.map(|t| t.call2(&JsValue::UNDEFINED, &resolve, &JsValue::from_f64(0.0)));
            if !matches!(scheduled, Some(Ok(_))) {
                // No timer (an unusual host): resolve at once rather than hang.
                let _ = resolve.call0(&JsValue::UNDEFINED);
            }
        });
        let _ = tick.await;
    }
}

/// Milliseconds from an arbitrary origin, for timings (std's clock traps in wasm).
pub fn now_ms() -> f64 {
    #[cfg(target_arch = "wasm32")]
    {
        js_sys::Date::now()
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        use std::sync::OnceLock;
        use std::time::Instant;
        static ORIGIN: OnceLock<Instant> = OnceLock::new();
        ORIGIN.get_or_init(Instant::now).elapsed().as_secs_f64() * 1000.0
    }
}

/// The instruction-set level the CPU kernels run at on this machine ("AVX2", "SIMD128",
/// "scalar"), detected at run time.
pub fn cpu_kernel_level() -> &'static str {
    kiln_shaders::cpu::Isa::best().name()
}

/// How many threads the CPU kernels split a matrix's rows over (1 in wasm).
pub fn cpu_threads() -> usize {
    kiln_shaders::cpu::threads()
}

/// This machine's memory read bandwidth in GB/s with `threads` threads, for `kiln bench`: each
/// thread sums its share of a 1 GiB buffer (eight independent u64 sums, so the loop is bound by
/// loads, not by one addition chain); best of three. Natively only: in wasm it returns 0.
pub fn memory_read_gb_s(threads: usize) -> f64 {
    #[cfg(target_arch = "wasm32")]
    {
        let _ = threads;
        0.0
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let words = (1usize << 30) / 8;
        let data: Vec<u64> = (0..words as u64).collect();
        let sum = |c: &[u64]| {
            let mut acc = [0u64; 8];
            for w in c.as_chunks::<8>().0 {
                for j in 0..8 {
                    acc[j] = acc[j].wrapping_add(w[j]);
                }
            }
            acc.iter().fold(0u64, |a, &b| a.wrapping_add(b))
        };
        let mut best = 0.0f64;
        for _ in 0..3 {
            let t = std::time::Instant::now();
            let total = std::thread::scope(|s| {
                let hs: Vec<_> = data
                    .chunks(words.div_ceil(threads.max(1)))
                    .map(|c| s.spawn(move || sum(c)))
                    .collect();
                hs.into_iter()
                    .map(|h| h.join().unwrap_or(0))
                    .fold(0u64, u64::wrapping_add)
            });
            std::hint::black_box(total);
            best = best.max((words * 8) as f64 / t.elapsed().as_secs_f64() / 1e9);
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::DeviceChoice;

    #[test]
    fn device_names_read_back() {
        for d in [DeviceChoice::Auto, DeviceChoice::Cpu, DeviceChoice::Gpu] {
            assert_eq!(d.name().parse::<DeviceChoice>().ok(), Some(d));
        }
    }
}
