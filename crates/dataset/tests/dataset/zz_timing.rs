#[test]
fn zz_timing() {
    use std::time::Instant;
    let t = Instant::now();
    let mut days = Vec::new();
    let spec = numerus_dataset::synth::StockSpec { stocks: 50, days: 420, start: jiff::civil::Date::constant(2018, 1, 1), seed: 5 };
    numerus_dataset::synth::synthesize_stocks(&spec, |day| { days.push(day); Ok(()) }).unwrap();
    eprintln!("synth {:?}", t.elapsed());
    let t = Instant::now();
    let panel = std::path::PathBuf::from("/tmp/tt/panel.parquet");
    let mut writer = numerus_dataset::panel::PanelWriter::new(std::fs::File::create(&panel).unwrap(), numerus_dataset::panel::PanelKind::Stocks).unwrap();
    for day in &days { writer.write_day(day).unwrap(); }
    writer.finish().unwrap();
    eprintln!("write {:?}", t.elapsed());
    struct D; impl numerus_dataset::output::Files for D { fn create(&mut self, name: &str) -> Result<Box<dyn std::io::Write + Send>, numerus_dataset::Error> { Ok(Box::new(std::fs::File::create(format!("/tmp/tt/{name}")).unwrap())) } }
    let t = Instant::now();
    let mut reader = numerus_dataset::panel::PanelReader::open(&panel, numerus_dataset::panel::PanelKind::Stocks, 50).unwrap();
    let mut n = 0; while let Some(_d) = reader.next_day().unwrap() { n += 1; }
    eprintln!("read {n} days {:?}", t.elapsed());
    let t = Instant::now();
    numerus_dataset::signals::build_signals(&panel, &numerus_dataset::signals::SignalsSpec { validation_fraction: 0.25, min_stocks: 50 }, &mut D, &|_, _| {}).unwrap();
    eprintln!("build {:?}", t.elapsed());
}
