//! `nde compare`: quality against NFE for several samplers (the page's comparison, as a table).

use clap::Args;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};
use serde_json::json;

use super::executor::Executor;
use super::sample::{run_one, SamplerArgs};
use super::target::ModelSpec;
use crate::core::limits;

#[derive(Args, Debug)]
pub struct CompareArgs {
    #[command(flatten)]
    pub spec: ModelSpec,
    /// Comma-separated sampler names.
    #[arg(long, value_delimiter = ',')]
    pub samplers: Vec<String>,
    /// Comma-separated NFE budgets, e.g. 5,10,20,50 (each 1 to 10000).
    #[arg(long = "nfe", value_delimiter = ',', default_value = "5,10,20,50", value_parser = limits::NFE.parser())]
    pub nfe_list: Vec<usize>,
    #[command(flatten)]
    pub sampler_args: SamplerArgs,
    /// Particles per run, 2 to 1000000.
    #[arg(long, default_value_t = 2000, value_parser = limits::PARTICLES.parser())]
    pub particles: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Executor: cpu or gpu.
    #[arg(long, default_value = "cpu")]
    pub backend: String,
    /// Write a chart of SWD against NFE: FILE.png or FILE.svg.
    #[arg(long)]
    pub plot: Option<String>,
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &CompareArgs) -> Result<(), String> {
    limits::COMPARE_SAMPLERS.check("the number of --samplers", args.samplers.len())?;
    limits::COMPARE_BUDGETS.check("the number of --nfe budgets", args.nfe_list.len())?;
    if let Some(path) = &args.plot {
        if !(path.ends_with(".svg") || path.ends_with(".png")) {
            return Err(format!("--plot {path}: the chart is written as PNG or SVG; end the name in .png or .svg"));
        }
        // Fail before the (long) runs, not after.
        register_chart_font()?;
    }
    let (target, process) = args.spec.parse()?;
    let executor = Executor::from_name(&args.backend)?;
    let mut rows = Vec::new();
    for sampler in &args.samplers {
        for &nfe in &args.nfe_list {
            let options = args.sampler_args.options(nfe, &args.samplers)?;
            let r = run_one(&executor, &target, process, &args.spec, sampler, &options, args.particles, args.seed, 0)?;
            rows.push((sampler.clone(), nfe, r));
        }
    }
    if let Some(path) = &args.plot {
        plot(path, &args.samplers, &rows).map_err(|e| format!("cannot draw {path}: {e}"))?;
    }
    if args.json {
        let table: Vec<serde_json::Value> = rows
            .iter()
            .map(|(s, budget, r)| json!({ "sampler": s, "nfe_budget": budget, "nfe": r.nfe, "swd": r.swd, "mmd": r.mmd, "energy": r.energy, "seconds": r.seconds }))
            .collect();
        println!(
            "{}",
            json!({ "target": args.spec.target, "process": args.spec.process, "model": args.spec.model, "particles": args.particles, "rows": table })
        );
    } else {
        println!("{:<18} {:>8} {:>8} {:>8} {:>8} {:>8}", "sampler", "nfe", "swd", "mmd", "energy", "seconds");
        for (s, _, r) in &rows {
            println!("{s:<18} {:>8.1} {:>8.4} {:>8.4} {:>8.4} {:>8.3}", r.nfe, r.swd, r.mmd, r.energy, r.seconds);
        }
    }
    Ok(())
}

/// Where charts look for a font (ab_glyph draws text from a font file, read at run time).
/// NDE_FONT, when set, comes first.
const FONT_PATHS: [&str; 5] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

fn register_chart_font() -> Result<(), String> {
    static REGISTERED: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            let from_env = std::env::var("NDE_FONT").ok();
            let candidates = from_env.iter().map(String::as_str).chain(FONT_PATHS);
            for path in candidates {
                if let Ok(bytes) = std::fs::read(path) {
                    // The font registry keeps &'static data: this one file lives for the process.
                    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                    if register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                        return Ok(());
                    }
                }
            }
            Err(format!(
                "--plot needs a TrueType font for the chart's text and found none in {}: install one \
                 (Debian: apt-get install fonts-dejavu-core) or point NDE_FONT at a .ttf file",
                FONT_PATHS[0]
            ))
        })
        .clone()
}

fn plot(
    path: &str,
    samplers: &[String],
    rows: &[(String, usize, super::sample::SampleReport)],
) -> Result<(), Box<dyn std::error::Error>> {
    let size = (800, 500);
    if path.ends_with(".png") {
        draw(BitMapBackend::new(path, size).into_drawing_area(), samplers, rows)
    } else {
        draw(SVGBackend::new(path, size).into_drawing_area(), samplers, rows)
    }
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    samplers: &[String],
    rows: &[(String, usize, super::sample::SampleReport)],
) -> Result<(), Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    let max_nfe = rows.iter().map(|r| r.2.nfe).fold(1.0, f64::max);
    let max_swd = rows.iter().map(|r| r.2.swd).fold(0.0, f64::max).max(1e-3);
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("sliced Wasserstein-2 against NFE", ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..max_nfe * 1.05, 0.0..max_swd * 1.05)?;
    chart.configure_mesh().x_desc("model evaluations per particle").y_desc("SWD").draw()?;
    for (i, sampler) in samplers.iter().enumerate() {
        let color = Palette99::pick(i);
        let points: Vec<(f64, f64)> = rows.iter().filter(|r| &r.0 == sampler).map(|r| (r.2.nfe, r.2.swd)).collect();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
            .label(sampler.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], Palette99::pick(i).stroke_width(2)));
        chart.draw_series(points.into_iter().map(|p| Circle::new(p, 3, Palette99::pick(i).filled())))?;
    }
    chart.configure_series_labels().border_style(BLACK).background_style(WHITE).draw()?;
    root.present()?;
    Ok(())
}
