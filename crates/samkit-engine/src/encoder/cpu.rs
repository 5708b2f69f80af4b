//! What the CPU offers for bf16, read from its flags (`/proc/cpuinfo` on Linux).

/// The CPU's native bf16 support.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpuBf16 {
    /// AMX tiles with bf16 (`amx_bf16`): bf16 matrix products several times faster than f32.
    pub amx: bool,
    /// AVX-512 bf16 dot products (`avx512_bf16`).
    pub avx512: bool,
}

impl CpuBf16 {
    /// The flags of this machine's CPU (none known off Linux).
    pub fn detect() -> Self {
        std::fs::read_to_string("/proc/cpuinfo")
            .map(|text| Self::from_cpuinfo(&text))
            .unwrap_or_default()
    }

    /// From the text of `/proc/cpuinfo`: the first `flags` line.
    pub fn from_cpuinfo(text: &str) -> Self {
        let Some(flags) = text
            .lines()
            .find(|l| l.split(':').next().is_some_and(|k| k.trim() == "flags"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v)
        else {
            return Self::default();
        };
        let has = |name: &str| flags.split_whitespace().any(|f| f == name);
        Self {
            amx: has("amx_bf16"),
            avx512: has("avx512_bf16"),
        }
    }

    /// Whether the CPU computes bf16 natively at all.
    pub fn native(self) -> bool {
        self.amx || self.avx512
    }

    /// Words for reports: `AMX`, `AVX512_BF16`, `none`.
    pub fn describe(self) -> &'static str {
        match (self.amx, self.avx512) {
            (true, _) => "AMX",
            (false, true) => "AVX512_BF16",
            (false, false) => "none",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_read_whole_words_of_the_flags_line() {
        let amx =
            "processor\t: 0\nflags\t\t: fpu avx512f avx512_bf16 amx_bf16 amx_tile\nbugs\t: x\n";
        assert_eq!(
            CpuBf16::from_cpuinfo(amx),
            CpuBf16 {
                amx: true,
                avx512: true
            }
        );
        let avx = "flags\t: fpu avx2 avx512f avx512_bf16\n";
        let got = CpuBf16::from_cpuinfo(avx);
        assert!(!got.amx && got.avx512 && got.native());
        assert_eq!(got.describe(), "AVX512_BF16");
        // A prefix is not the flag; a `vmx flags` line is not the flags line.
        let none = "vmx flags\t: amx_bf16\nflags\t: avx512_bf16x amx_bf16_extra\n";
        assert_eq!(CpuBf16::from_cpuinfo(none), CpuBf16::default());
        assert_eq!(CpuBf16::from_cpuinfo(""), CpuBf16::default());
        assert_eq!(CpuBf16::default().describe(), "none");
    }
}
