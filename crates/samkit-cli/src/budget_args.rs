//! `--max-pixels`: the pixel budget of every command that reads images or masks.

use samkit_engine::PixelBudget;

/// Flatten into a command that decodes images or masks.
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct BudgetArgs {
    /// Refuse images and masks that declare more than N pixels (width × height, read from
    /// the file's header before decoding; decoding takes 3–11 bytes per pixel)
    #[arg(long, value_name = "N", default_value_t = PixelBudget::DEFAULT.max_pixels(),
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_pixels: u64,
}

impl BudgetArgs {
    pub fn budget(&self) -> PixelBudget {
        PixelBudget::new(self.max_pixels)
    }
}

impl Default for BudgetArgs {
    fn default() -> Self {
        BudgetArgs {
            max_pixels: PixelBudget::DEFAULT.max_pixels(),
        }
    }
}
