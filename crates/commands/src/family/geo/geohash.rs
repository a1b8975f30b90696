//! Redis's geohash arithmetic (`geohash.c`, `geohash_helper.c`): 52-bit interleaved cell
//! numbers, their decoding to the cell centre, the eight neighbours, the radius-to-step
//! estimate, haversine distances and the shape tests. Pure functions, no I/O; the float
//! operations follow Redis's C expression by expression so results match bit for bit.

/// Bits per coordinate of a stored score (52 bits in all).
pub const STEP_MAX: u8 = 26;
pub const LAT_MIN: f64 = -85.05112878;
pub const LAT_MAX: f64 = 85.05112878;
pub const LONG_MIN: f64 = -180.0;
pub const LONG_MAX: f64 = 180.0;

/// Earth's quadratic mean radius for WGS-84, as Redis uses it.
const EARTH_RADIUS_IN_METERS: f64 = 6372797.560856;
const MERCATOR_MAX: f64 = 20037726.37;
const D_R: f64 = std::f64::consts::PI / 180.0;

#[inline]
fn deg_rad(ang: f64) -> f64 {
    ang * D_R
}

#[inline]
fn rad_deg(ang: f64) -> f64 {
    ang / D_R
}

/// A cell: `step` bits per coordinate, interleaved (latitude in the even bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Bits {
    pub bits: u64,
    pub step: u8,
}

impl Bits {
    fn is_zero(&self) -> bool {
        self.bits == 0 && self.step == 0
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Range {
    pub min: f64,
    pub max: f64,
}

/// The coordinates a cell covers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Area {
    pub longitude: Range,
    pub latitude: Range,
}

const WGS84_LONG: Range = Range {
    min: LONG_MIN,
    max: LONG_MAX,
};
const WGS84_LAT: Range = Range {
    min: LAT_MIN,
    max: LAT_MAX,
};

/// Interleaves the low 32 bits of `x` (even positions) and `y` (odd positions).
fn interleave64(xlo: u32, ylo: u32) -> u64 {
    const B: [u64; 5] = [
        0x5555555555555555,
        0x3333333333333333,
        0x0F0F0F0F0F0F0F0F,
        0x00FF00FF00FF00FF,
        0x0000FFFF0000FFFF,
    ];
    const S: [u32; 5] = [1, 2, 4, 8, 16];
    let mut x = u64::from(xlo);
    let mut y = u64::from(ylo);
    for k in (0..5).rev() {
        x = (x | (x << S[k])) & B[k];
        y = (y | (y << S[k])) & B[k];
    }
    x | (y << 1)
}

/// The inverse of `interleave64`: even bits in the low half, odd bits in the high half.
fn deinterleave64(interleaved: u64) -> u64 {
    const B: [u64; 6] = [
        0x5555555555555555,
        0x3333333333333333,
        0x0F0F0F0F0F0F0F0F,
        0x00FF00FF00FF00FF,
        0x0000FFFF0000FFFF,
        0x00000000FFFFFFFF,
    ];
    const S: [u32; 6] = [0, 1, 2, 4, 8, 16];
    let mut x = interleaved;
    let mut y = interleaved >> 1;
    for k in 0..6 {
        x = (x | (x >> S[k])) & B[k];
        y = (y | (y >> S[k])) & B[k];
    }
    x | (y << 32)
}

/// `geohashEncode`: the cell of `step` bits per coordinate holding the point, in the given
/// ranges. None outside Redis's WGS-84 limits or the ranges.
pub fn encode(
    long_range: Range,
    lat_range: Range,
    longitude: f64,
    latitude: f64,
    step: u8,
) -> Option<Bits> {
    if step > 32 || step == 0 {
        return None;
    }
    if !(LONG_MIN..=LONG_MAX).contains(&longitude) || !(LAT_MIN..=LAT_MAX).contains(&latitude) {
        return None;
    }
    if latitude < lat_range.min
        || latitude > lat_range.max
        || longitude < long_range.min
        || longitude > long_range.max
    {
        return None;
    }
    let mut lat_offset = (latitude - lat_range.min) / (lat_range.max - lat_range.min);
    let mut long_offset = (longitude - long_range.min) / (long_range.max - long_range.min);
    lat_offset *= (1u64 << step) as f64;
    long_offset *= (1u64 << step) as f64;
    // C's implicit double -> uint32_t conversion truncates.
    Some(Bits {
        bits: interleave64(lat_offset as u32, long_offset as u32),
        step,
    })
}

/// `geohashEncodeWGS84`.
pub fn encode_wgs84(longitude: f64, latitude: f64, step: u8) -> Option<Bits> {
    encode(WGS84_LONG, WGS84_LAT, longitude, latitude, step)
}

/// `geohashDecode`: the area a cell covers.
fn decode(long_range: Range, lat_range: Range, hash: Bits) -> Option<Area> {
    if hash.is_zero() {
        return None;
    }
    let sep = deinterleave64(hash.bits);
    let lat_scale = lat_range.max - lat_range.min;
    let long_scale = long_range.max - long_range.min;
    let ilato = sep as u32;
    let ilono = (sep >> 32) as u32;
    let div = (1u64 << hash.step) as f64;
    Some(Area {
        latitude: Range {
            min: lat_range.min + (f64::from(ilato) * 1.0 / div) * lat_scale,
            max: lat_range.min + (f64::from(ilato.wrapping_add(1)) * 1.0 / div) * lat_scale,
        },
        longitude: Range {
            min: long_range.min + (f64::from(ilono) * 1.0 / div) * long_scale,
            max: long_range.min + (f64::from(ilono.wrapping_add(1)) * 1.0 / div) * long_scale,
        },
    })
}

/// `geohashDecodeToLongLatWGS84`: the centre of the cell, clamped to the valid range.
fn decode_to_long_lat(hash: Bits) -> Option<[f64; 2]> {
    let area = decode(WGS84_LONG, WGS84_LAT, hash)?;
    let x = ((area.longitude.min + area.longitude.max) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let y = ((area.latitude.min + area.latitude.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    Some([x, y])
}

/// C's `(uint64_t)d` as x86-64 compilers emit it (defined for 0 <= d < 2^64; scores set
/// by ZADD may be anything).
fn c_double_to_u64(d: f64) -> u64 {
    const TWO63: f64 = 9223372036854775808.0;
    if d < TWO63 {
        d as i64 as u64
    } else {
        let r = d - TWO63;
        let low = if r < TWO63 { r as i64 as u64 } else { 1 << 63 };
        low ^ (1 << 63)
    }
}

/// `decodeGeohash`: the (longitude, latitude) a sorted set score stands for.
pub fn decode_score(score: f64) -> Option<[f64; 2]> {
    decode_to_long_lat(Bits {
        bits: c_double_to_u64(score),
        step: STEP_MAX,
    })
}

/// `geohashAlign52Bits`: the cell's first score.
pub fn align52(hash: Bits) -> u64 {
    hash.bits << (52 - u32::from(hash.step) * 2)
}

/// The score a point is stored with.
pub fn score_of(longitude: f64, latitude: f64) -> Option<u64> {
    encode_wgs84(longitude, latitude, STEP_MAX).map(align52)
}

/// The 11-character standard geohash GEOHASH answers (latitude range ±90).
pub fn standard_geohash(xy: [f64; 2]) -> Option<[u8; 11]> {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let hash = encode(
        WGS84_LONG,
        Range {
            min: -90.0,
            max: 90.0,
        },
        xy[0],
        xy[1],
        26,
    )?;
    let mut out = [b'0'; 11];
    for (i, c) in out.iter_mut().enumerate().take(10) {
        let idx = (hash.bits >> (52 - (i + 1) * 5)) & 0x1f;
        *c = ALPHABET[idx as usize];
    }
    Some(out)
}

fn move_x(hash: &mut Bits, d: i8) {
    if d == 0 {
        return;
    }
    let shift = 64 - u32::from(hash.step) * 2;
    let mut x = hash.bits & 0xaaaaaaaaaaaaaaaa;
    let y = hash.bits & 0x5555555555555555;
    let zz = 0x5555555555555555u64 >> shift;
    if d > 0 {
        x = x.wrapping_add(zz + 1);
    } else {
        x |= zz;
        x = x.wrapping_sub(zz + 1);
    }
    x &= 0xaaaaaaaaaaaaaaaau64 >> shift;
    hash.bits = x | y;
}

fn move_y(hash: &mut Bits, d: i8) {
    if d == 0 {
        return;
    }
    let shift = 64 - u32::from(hash.step) * 2;
    let x = hash.bits & 0xaaaaaaaaaaaaaaaa;
    let mut y = hash.bits & 0x5555555555555555;
    let zz = 0xaaaaaaaaaaaaaaaau64 >> shift;
    if d > 0 {
        y = y.wrapping_add(zz + 1);
    } else {
        y |= zz;
        y = y.wrapping_sub(zz + 1);
    }
    y &= 0x5555555555555555u64 >> shift;
    hash.bits = x | y;
}

/// The nine cells a search visits, in Redis's order: the centre, then north, south, east,
/// west, north-east, north-west, south-east, south-west. Cells ruled out are zero.
fn neighbours(hash: Bits) -> [Bits; 9] {
    const MOVES: [(i8, i8); 9] = [
        (0, 0),
        (0, 1),
        (0, -1),
        (1, 0),
        (-1, 0),
        (1, 1),
        (-1, 1),
        (1, -1),
        (-1, -1),
    ];
    MOVES.map(|(dx, dy)| {
        let mut h = hash;
        move_x(&mut h, dx);
        move_y(&mut h, dy);
        h
    })
}

const NORTH: usize = 1;
const SOUTH: usize = 2;
const EAST: usize = 3;
const WEST: usize = 4;
const NORTH_EAST: usize = 5;
const NORTH_WEST: usize = 6;
const SOUTH_EAST: usize = 7;
const SOUTH_WEST: usize = 8;

/// `geohashEstimateStepsByRadius`.
fn estimate_steps_by_radius(mut range_meters: f64, lat: f64) -> u8 {
    if range_meters == 0.0 {
        return 26;
    }
    let mut step: i32 = 1;
    while range_meters < MERCATOR_MAX {
        range_meters *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

/// What a search covers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ShapeKind {
    Circle { radius: f64 },
    Rect { width: f64, height: f64 },
}

/// A search area: centre, size in the user's unit, and the unit's size in meters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shape {
    pub xy: [f64; 2],
    pub conversion: f64,
    pub kind: ShapeKind,
}

impl Shape {
    /// `geohashBoundingBox`: [min lon, min lat, max lon, max lat].
    fn bounding_box(&self) -> [f64; 4] {
        let [longitude, latitude] = self.xy;
        let (height, width) = match self.kind {
            ShapeKind::Circle { radius } => (self.conversion * radius, self.conversion * radius),
            ShapeKind::Rect { width, height } => (
                self.conversion * (height / 2.0),
                self.conversion * (width / 2.0),
            ),
        };
        let lat_delta = rad_deg(height / EARTH_RADIUS_IN_METERS);
        let long_delta_top =
            rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(latitude + lat_delta).cos());
        let long_delta_bottom =
            rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(latitude - lat_delta).cos());
        let delta = if latitude < 0.0 {
            long_delta_bottom
        } else {
            long_delta_top
        };
        [
            longitude - delta,
            latitude - lat_delta,
            longitude + delta,
            latitude + lat_delta,
        ]
    }

    /// `geohashCalculateAreasByShapeWGS84`: the nine cells (some zeroed) whose score ranges
    /// hold every point of the shape.
    pub fn cells(&self) -> [Bits; 9] {
        let [min_lon, min_lat, max_lon, max_lat] = self.bounding_box();
        let [longitude, latitude] = self.xy;
        let mut radius_meters = match self.kind {
            ShapeKind::Circle { radius } => radius,
            ShapeKind::Rect { width, height } => {
                ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt()
            }
        };
        radius_meters *= self.conversion;
        let mut steps = estimate_steps_by_radius(radius_meters, latitude);
        let at = |steps: u8| {
            let hash = encode_wgs84(longitude, latitude, steps).unwrap_or(Bits {
                bits: 0,
                step: steps,
            });
            let cells = neighbours(hash);
            (cells, decode(WGS84_LONG, WGS84_LAT, hash))
        };
        let (mut cells, mut area) = at(steps);
        let area_of = |b: Bits| decode(WGS84_LONG, WGS84_LAT, b);
        let decrease = area_of(cells[NORTH]).is_some_and(|a| a.latitude.max < max_lat)
            || area_of(cells[SOUTH]).is_some_and(|a| a.latitude.min > min_lat)
            || area_of(cells[EAST]).is_some_and(|a| a.longitude.max < max_lon)
            || area_of(cells[WEST]).is_some_and(|a| a.longitude.min > min_lon);
        if steps > 1 && decrease {
            steps -= 1;
            (cells, area) = at(steps);
        }
        if steps >= 2 {
            if let Some(area) = area {
                let zero = Bits::default();
                if area.latitude.min < min_lat {
                    cells[SOUTH] = zero;
                    cells[SOUTH_WEST] = zero;
                    cells[SOUTH_EAST] = zero;
                }
                if area.latitude.max > max_lat {
                    cells[NORTH] = zero;
                    cells[NORTH_EAST] = zero;
                    cells[NORTH_WEST] = zero;
                }
                if area.longitude.min < min_lon {
                    cells[WEST] = zero;
                    cells[SOUTH_WEST] = zero;
                    cells[NORTH_WEST] = zero;
                }
                if area.longitude.max > max_lon {
                    cells[EAST] = zero;
                    cells[SOUTH_EAST] = zero;
                    cells[NORTH_EAST] = zero;
                }
            }
        }
        cells
    }

    /// `geoWithinShape` after decoding: the distance in meters from the centre when the
    /// point lies inside.
    pub fn contains(&self, x: f64, y: f64) -> Option<f64> {
        let [cx, cy] = self.xy;
        match self.kind {
            ShapeKind::Circle { radius } => {
                let d = distance(cx, cy, x, y);
                (d <= radius * self.conversion).then_some(d)
            }
            ShapeKind::Rect { width, height } => {
                let (width_m, height_m) = (width * self.conversion, height * self.conversion);
                if lat_distance(y, cy) > height_m / 2.0 {
                    return None;
                }
                if distance(x, y, cx, y) > width_m / 2.0 {
                    return None;
                }
                Some(distance(cx, cy, x, y))
            }
        }
    }
}

/// The score range `[min, max)` of a cell's points.
pub fn score_range(hash: Bits) -> (f64, f64) {
    let min = align52(hash);
    let max = align52(Bits {
        bits: hash.bits.wrapping_add(1),
        step: hash.step,
    });
    (min as f64, max as f64)
}

/// Whether a cell takes part in the search (Redis skips zeroed ones).
pub fn is_live(hash: Bits) -> bool {
    !hash.is_zero()
}

/// `geohashGetLatDistance`.
fn lat_distance(lat1d: f64, lat2d: f64) -> f64 {
    EARTH_RADIUS_IN_METERS * (deg_rad(lat2d) - deg_rad(lat1d)).abs()
}

/// `geohashGetDistance`: haversine distance in meters.
pub fn distance(lon1d: f64, lat1d: f64, lon2d: f64, lat2d: f64) -> f64 {
    let lon1r = deg_rad(lon1d);
    let lon2r = deg_rad(lon2d);
    let v = ((lon2r - lon1r) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1d, lat2d);
    }
    let lat1r = deg_rad(lat1d);
    let lat2r = deg_rad(lat2d);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_IN_METERS * a.sqrt().asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleave_round_trips() {
        for (x, y) in [
            (0u32, 0u32),
            (1, 0),
            (0, 1),
            (0x3ffffff, 0x1234567),
            (u32::MAX, 7),
        ] {
            let d = deinterleave64(interleave64(x, y));
            assert_eq!((d as u32, (d >> 32) as u32), (x, y));
        }
    }

    #[test]
    fn scores_match_redis() {
        // GEOADD Sicily 13.361389 38.115556 Palermo 15.087269 37.502669 Catania, as stored
        // by redis-server.
        assert_eq!(score_of(13.361389, 38.115556), Some(3479099956230698));
        assert_eq!(score_of(15.087269, 37.502669), Some(3479447370796909));
        assert_eq!(score_of(181.0, 0.0), None);
        assert_eq!(score_of(0.0, 86.0), None);
        let xy = decode_score(3479099956230698.0).unwrap_or_default();
        assert_eq!(xy, [13.361389338970184, 38.1155563954963]);
        assert_eq!(standard_geohash(xy), Some(*b"sqc8b49rny0"));
    }

    #[test]
    fn neighbours_step_around_the_cell() {
        let h = encode_wgs84(0.0, 0.0, 2).unwrap_or_default();
        let n = neighbours(h);
        assert_eq!(n[0], h);
        let centre = decode(WGS84_LONG, WGS84_LAT, h).unwrap_or(Area {
            longitude: Range { min: 0.0, max: 0.0 },
            latitude: Range { min: 0.0, max: 0.0 },
        });
        let east = decode(WGS84_LONG, WGS84_LAT, n[EAST]).unwrap_or(centre);
        let north = decode(WGS84_LONG, WGS84_LAT, n[NORTH]).unwrap_or(centre);
        assert_eq!(east.longitude.min, centre.longitude.max);
        assert_eq!(north.latitude.min, centre.latitude.max);
    }

    #[test]
    fn steps_shrink_with_the_radius() {
        assert_eq!(estimate_steps_by_radius(0.0, 0.0), 26);
        assert!(estimate_steps_by_radius(100.0, 0.0) > estimate_steps_by_radius(100000.0, 0.0));
        assert_eq!(estimate_steps_by_radius(1e9, 0.0), 1);
        assert!(estimate_steps_by_radius(1000.0, 85.0) < estimate_steps_by_radius(1000.0, 0.0));
    }

    #[test]
    fn distances_are_haversine() {
        let d = distance(
            13.361389338970184,
            38.1155563954963,
            15.087267458438873,
            37.50266842333162,
        );
        assert_eq!(format!("{:.4}", d / 1000.0), "166.2742");
        assert_eq!(distance(1.0, 2.0, 1.0, 2.0), 0.0);
    }
}
