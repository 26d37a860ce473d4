//! Procedural test images: five generators, each rendered as a "world" larger than the view so
//! a camera shift is a different crop of the same world, with one small subject that a burst
//! shot can move.

use image::{Rgb, RgbImage};

/// Size of the rendered world; views are cut from it.
pub const WORLD: (u32, u32) = (720, 540);
/// Size of a view (the "photo").
pub const VIEW: (u32, u32) = (640, 480);
/// Where the unshifted view starts in the world.
pub const VIEW_AT: (u32, u32) = (40, 30);

/// splitmix64.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }
    pub fn color(&mut self) -> [f32; 3] {
        [
            self.range(0.0, 255.0),
            self.range(0.0, 255.0),
            self.range(0.0, 255.0),
        ]
    }
}

/// The kinds of picture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Gradient,
    Shapes,
    Noise,
    Text,
    Landscape,
}

pub const KINDS: [Kind; 5] = [
    Kind::Gradient,
    Kind::Shapes,
    Kind::Noise,
    Kind::Text,
    Kind::Landscape,
];

/// Where the small subject sits (world coordinates) and its colour.
#[derive(Clone, Copy, Debug)]
pub struct Subject {
    pub x: f32,
    pub y: f32,
    pub radius: f32,
    pub color: [f32; 3],
}

/// Renders the world of `kind` from `seed`, with the subject placed by `subject`.
pub fn world(kind: Kind, seed: u64, subject: Subject) -> RgbImage {
    let mut rng = Rng::new(seed);
    let mut canvas = Canvas::new();
    match kind {
        Kind::Gradient => gradient(&mut canvas, &mut rng),
        Kind::Shapes => shapes(&mut canvas, &mut rng),
        Kind::Noise => noise(&mut canvas, &mut rng),
        Kind::Text => text(&mut canvas, &mut rng),
        Kind::Landscape => landscape(&mut canvas, &mut rng),
    }
    canvas.disc(subject.x, subject.y, subject.radius, subject.color);
    canvas.into_image()
}

/// The subject a seed puts in its world: inside the view, about 5% of the view's width, in
/// black or white, whichever stands out from the background where it stands, so that it is
/// visible.
pub fn subject(kind: Kind, seed: u64) -> Subject {
    let mut rng = Rng::new(seed ^ 0x5EED);
    let mut subject = Subject {
        x: rng.range(160.0, 560.0),
        y: rng.range(130.0, 410.0),
        radius: rng.range(14.0, 22.0),
        color: [0.0; 3],
    };
    let bare = world(
        kind,
        seed,
        Subject {
            radius: 0.0,
            ..subject
        },
    );
    let under = bare.get_pixel(subject.x as u32, subject.y as u32);
    let luma =
        0.299 * f32::from(under[0]) + 0.587 * f32::from(under[1]) + 0.114 * f32::from(under[2]);
    subject.color = if luma > 128.0 {
        [20.0, 20.0, 20.0]
    } else {
        [235.0, 235.0, 235.0]
    };
    subject
}

/// The view at `offset` from the usual one.
pub fn view(world: &RgbImage, dx: i32, dy: i32) -> RgbImage {
    let x = (VIEW_AT.0 as i32 + dx) as u32;
    let y = (VIEW_AT.1 as i32 + dy) as u32;
    image::imageops::crop_imm(world, x, y, VIEW.0, VIEW.1).to_image()
}

/// A float RGB canvas of the world's size.
struct Canvas {
    px: Vec<[f32; 3]>,
}

impl Canvas {
    fn new() -> Self {
        Canvas {
            px: vec![[0.0; 3]; (WORLD.0 * WORLD.1) as usize],
        }
    }
    fn each(&mut self, mut f: impl FnMut(f32, f32, &mut [f32; 3])) {
        for (i, p) in self.px.iter_mut().enumerate() {
            let (x, y) = ((i as u32 % WORLD.0) as f32, (i as u32 / WORLD.0) as f32);
            f(x, y, p);
        }
    }
    fn disc(&mut self, cx: f32, cy: f32, r: f32, color: [f32; 3]) {
        self.each(|x, y, p| {
            if (x - cx).powi(2) + (y - cy).powi(2) <= r * r {
                *p = color;
            }
        });
    }
    fn rect(&mut self, x0: f32, y0: f32, w: f32, h: f32, color: [f32; 3]) {
        self.each(|x, y, p| {
            if x >= x0 && x < x0 + w && y >= y0 && y < y0 + h {
                *p = color;
            }
        });
    }
    fn into_image(self) -> RgbImage {
        let mut img = RgbImage::new(WORLD.0, WORLD.1);
        for (dst, src) in img.pixels_mut().zip(self.px) {
            *dst = Rgb(src.map(|c| c.round().clamp(0.0, 255.0) as u8));
        }
        img
    }
}

fn mix(a: [f32; 3], b: [f32; 3], t: f32) -> [f32; 3] {
    [0, 1, 2].map(|i| a[i] + (b[i] - a[i]) * t)
}

fn gradient(c: &mut Canvas, rng: &mut Rng) {
    let (a, b, blob) = (rng.color(), rng.color(), rng.color());
    let angle = rng.range(0.0, std::f32::consts::TAU);
    let (dx, dy) = (angle.cos(), angle.sin());
    let (bx, by, br) = (
        rng.range(100.0, 620.0),
        rng.range(100.0, 440.0),
        rng.range(80.0, 220.0),
    );
    c.each(|x, y, p| {
        let t = (((x - 360.0) * dx + (y - 270.0) * dy) / 450.0 + 0.5).clamp(0.0, 1.0);
        let glow = (-((x - bx).powi(2) + (y - by).powi(2)) / (br * br)).exp();
        *p = mix(mix(a, b, t), blob, glow * 0.7);
    });
}

fn shapes(c: &mut Canvas, rng: &mut Rng) {
    let bg = rng.color();
    c.each(|_, _, p| *p = bg);
    for _ in 0..(6 + rng.next() % 8) {
        let color = rng.color();
        let (x, y) = (rng.range(0.0, 720.0), rng.range(0.0, 540.0));
        if rng.next().is_multiple_of(2) {
            c.rect(
                x - 60.0,
                y - 40.0,
                rng.range(40.0, 220.0),
                rng.range(40.0, 180.0),
                color,
            );
        } else {
            c.disc(x, y, rng.range(20.0, 110.0), color);
        }
    }
}

/// Value noise, three octaves, mapped between two colours.
fn noise(c: &mut Canvas, rng: &mut Rng) {
    let (a, b) = (rng.color(), rng.color());
    let lattice: Vec<f32> = (0..64 * 64).map(|_| rng.unit()).collect();
    let value = |x: f32, y: f32| {
        let (xi, yi) = (x.floor() as usize, y.floor() as usize);
        let (fx, fy) = (x - x.floor(), y - y.floor());
        let at = |i: usize, j: usize| lattice[(j % 64) * 64 + i % 64];
        let top = at(xi, yi) + (at(xi + 1, yi) - at(xi, yi)) * fx;
        let bottom = at(xi, yi + 1) + (at(xi + 1, yi + 1) - at(xi, yi + 1)) * fx;
        top + (bottom - top) * fy
    };
    let scale = rng.range(40.0, 90.0);
    c.each(|x, y, p| {
        let n = (0..3)
            .map(|o| {
                value(x / scale * (1 << o) as f32, y / scale * (1 << o) as f32) / (1 << o) as f32
            })
            .sum::<f32>()
            / 1.75;
        *p = mix(a, b, n);
    });
}

/// Lines of dark blocks of word-like widths on a light page.
fn text(c: &mut Canvas, rng: &mut Rng) {
    let page = [
        rng.range(225.0, 255.0),
        rng.range(220.0, 250.0),
        rng.range(210.0, 245.0),
    ];
    let ink = [
        rng.range(0.0, 60.0),
        rng.range(0.0, 60.0),
        rng.range(0.0, 90.0),
    ];
    c.each(|_, _, p| *p = page);
    let line = rng.range(18.0, 30.0);
    let mut y = rng.range(10.0, 40.0);
    while y < 520.0 {
        let mut x = rng.range(20.0, 60.0);
        let end = rng.range(450.0, 700.0);
        while x < end {
            let word = rng.range(12.0, 70.0);
            c.rect(x, y, word, line * 0.55, ink);
            x += word + rng.range(6.0, 12.0);
        }
        y += line * rng.range(1.0, 1.6);
    }
}

fn landscape(c: &mut Canvas, rng: &mut Rng) {
    let (sky_top, sky_low, ground) = (rng.color(), rng.color(), rng.color());
    let (h1, f1, p1) = (
        rng.range(260.0, 380.0),
        rng.range(0.005, 0.02),
        rng.range(0.0, 6.0),
    );
    let (h2, f2, p2) = (
        rng.range(330.0, 460.0),
        rng.range(0.01, 0.03),
        rng.range(0.0, 6.0),
    );
    let far = mix(ground, sky_low, 0.5);
    c.each(|x, y, p| {
        let ridge1 = h1 + 40.0 * (x * f1 + p1).sin();
        let ridge2 = h2 + 30.0 * (x * f2 + p2).sin();
        *p = if y > ridge2 {
            ground
        } else if y > ridge1 {
            far
        } else {
            mix(sky_top, sky_low, y / 540.0)
        };
    });
    c.disc(
        rng.range(60.0, 660.0),
        rng.range(40.0, 160.0),
        rng.range(25.0, 50.0),
        [250.0, 230.0, 160.0],
    );
    for _ in 0..(3 + rng.next() % 5) {
        let (x, w, h) = (
            rng.range(0.0, 700.0),
            rng.range(20.0, 70.0),
            rng.range(30.0, 120.0),
        );
        c.rect(x, 470.0 - h, w, h, rng.color());
    }
}
