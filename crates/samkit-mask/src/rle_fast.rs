//! Row-major ⇄ column-major RLE without transposing the mask.
//!
//! COCO runs are column-major, samkit masks row-major. Instead of transposing (one
//! strided pass over every pixel), both directions work on *changes between
//! consecutive rows*: a run boundary at `(x, y)`, `y > 0`, is exactly a pixel that
//! differs from the one above it. Comparing rows is a word-wise XOR, so the cost is
//! one sequential pass plus O(number of runs).

/// Calls `f(x, y)` for every pixel (y > 0) that differs from the pixel above it,
/// row by row; rows are compared eight bytes at a time.
#[inline(always)]
fn for_each_change(data: &[u8], w: usize, h: usize, mut f: impl FnMut(usize, u32)) {
    for y in 1..h {
        let prev = &data[(y - 1) * w..y * w];
        let row = &data[y * w..(y + 1) * w];
        let (pc, rc) = (prev.chunks_exact(8), row.chunks_exact(8));
        let (ptail, rtail) = (pc.remainder(), rc.remainder());
        let mut x = 0;
        for (a, b) in pc.zip(rc) {
            let mut d = u64::from_le_bytes(a.try_into().unwrap_or([0; 8]))
                ^ u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
            // Bytes are 0/1, so each differing byte contributes exactly one set bit.
            while d != 0 {
                f(x + d.trailing_zeros() as usize / 8, y as u32);
                d &= d - 1;
            }
            x += 8;
        }
        for (i, (a, b)) in ptail.iter().zip(rtail).enumerate() {
            if a != b {
                f(x + i, y as u32);
            }
        }
    }
}

/// Canonical pycocotools runs of a row-major 0/1 mask (`data.len() == w·h`).
pub(crate) fn encode_row_major(data: &[u8], w: usize, h: usize) -> Vec<u32> {
    if w == 0 || h == 0 {
        return vec![0];
    }
    // Two passes over the row changes (count per column, then fill) build each
    // column's boundary list in y order without sorting.
    let mut start = vec![0usize; w + 1];
    for_each_change(data, w, h, |x, _| start[x + 1] += 1);
    for i in 0..w {
        start[i + 1] += start[i];
    }
    let mut fill = start.clone();
    let mut ys = vec![0u32; start[w]];
    for_each_change(data, w, h, |x, y| {
        ys[fill[x]] = y;
        fill[x] += 1;
    });
    let mut counts = Vec::with_capacity(ys.len() + w / 4 + 2);
    let (mut cur, mut run) = (0u8, 0u32);
    for x in 0..w {
        let mut val = data[x];
        let mut seg_start = 0u32;
        for &b in ys[start[x]..start[x + 1]]
            .iter()
            .chain(std::iter::once(&(h as u32)))
        {
            let len = b - seg_start;
            if val == cur {
                run += len;
            } else {
                counts.push(run);
                run = len;
                cur = val;
            }
            seg_start = b;
            val ^= 1;
        }
    }
    counts.push(run);
    counts
}

/// Walks the runs keeping the column-major position as `(x, y)` without dividing
/// per run: calls `boundary(x, y)` at every run start strictly inside a column
/// (y > 0; zero-length runs give two boundaries at one pixel, which cancel as
/// toggles) and `column_start(x)` for every column whose first pixel is foreground.
#[inline(always)]
fn walk_runs(
    counts: &[u32],
    h: usize,
    w: usize,
    mut boundary: impl FnMut(u32, usize),
    mut column_start: impl FnMut(usize),
) {
    let (mut x, mut y, mut val) = (0usize, 0usize, 0u8);
    for (i, &c) in counts.iter().enumerate() {
        if x >= w {
            break;
        }
        if i > 0 && y != 0 {
            boundary(x as u32, y);
        }
        let c = c as usize;
        // Columns whose start lies in this run: x (if the run starts it) and every
        // column the run crosses into.
        let y_end = y + c;
        if val == 1 && c > 0 {
            if y == 0 {
                column_start(x);
            }
            if y_end > h {
                let last = (x + (y_end - 1) / h).min(w - 1);
                for xc in x + 1..=last {
                    column_start(xc);
                }
            }
        }
        if y_end >= h {
            x += y_end / h;
            y = y_end % h;
        } else {
            y = y_end;
        }
        val ^= 1;
    }
}

/// Row-major 0/1 pixels of runs that sum to `w·h` (checked by the caller).
pub(crate) fn decode_row_major(counts: &[u32], w: usize, h: usize) -> Vec<u8> {
    let n = w * h;
    let mut out = vec![0u8; n];
    if n == 0 {
        return out;
    }
    // Toggles below row 0, bucketed by row in two passes (count, fill); row 0 holds
    // each column's first value; then each row is the row above with its toggles flipped.
    let mut start = vec![0usize; h + 1];
    walk_runs(counts, h, w, |_, y| start[y + 1] += 1, |x| out[x] = 1);
    for i in 0..h {
        start[i + 1] += start[i];
    }
    let mut fill = start.clone();
    let mut xs = vec![0u32; start[h]];
    walk_runs(
        counts,
        h,
        w,
        |x, y| {
            xs[fill[y]] = x;
            fill[y] += 1;
        },
        |_| {},
    );
    for y in 1..h {
        let (above, rest) = out.split_at_mut(y * w);
        let row = &mut rest[..w];
        row.copy_from_slice(&above[(y - 1) * w..]);
        for &x in &xs[start[y]..start[y + 1]] {
            row[x as usize] ^= 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Mask;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn matches_transpose_path(w in 1usize..40, h in 1usize..40, seed in any::<u64>(), density in 0u8..4) {
            let mut s = seed;
            let data: Vec<u8> = (0..w * h).map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                u8::from(((s >> 33) % 4) < u64::from(density))
            }).collect();
            let m = Mask::from_raw(w as u32, h as u32, data.clone()).unwrap();
            let col = m.to_column_major();
            let want = hotcoco::mask::encode(&col, h as u32, w as u32).unwrap().counts;
            let got = encode_row_major(&data, w, h);
            prop_assert_eq!(&got, &want);
            prop_assert_eq!(decode_row_major(&got, w, h), data);
        }
    }

    #[test]
    fn zero_length_runs_decode() {
        // [1, 0, 2, 3] on a 3×2 (h=3, w=2) mask: 1 bg, 0 fg, 2 bg, 3 fg.
        let d = decode_row_major(&[1, 0, 2, 3], 2, 3);
        assert_eq!(d, vec![0, 1, 0, 1, 0, 1]);
    }
}
