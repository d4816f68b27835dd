extension HardwareCatalog {
    /// The built-in catalog, as the JSON a user's `--catalog` file extends or overrides (same format; an entry
    /// with a known name replaces the built-in one). Kept in the binary so a copied `skiff` needs no data files;
    /// `skiff plan --print-catalog` writes it out to start from.
    ///
    /// GPU figures: memory as `nvidia-smi` reports the total; bandwidth and dense (not sparse) tensor
    /// throughput from NVIDIA's data sheets (SXM parts for A100/H100/H200). NVIDIA publishes no tensor figures
    /// for the A10G; 70 TFLOPS bf16 is an estimate from its clocks. Prices: AWS us-east-1 Linux on-demand as of
    /// the date given; spot prices move hourly and are only an illustration. Override both for your region.
    static let builtInJSON = #"""
    {
      "price_date": "2025-07",
      "gpus": [
        {"name": "a10g", "display_name": "NVIDIA A10G 24 GB", "memory_bytes": 24146608128,
         "memory_bandwidth_gbps": 600, "bf16_tflops": 70, "int8_tflops": 140},
        {"name": "l4", "display_name": "NVIDIA L4 24 GB", "memory_bytes": 24152899584,
         "memory_bandwidth_gbps": 300, "bf16_tflops": 121, "fp8_tflops": 242, "int8_tflops": 242},
        {"name": "l40s", "display_name": "NVIDIA L40S 48 GB", "memory_bytes": 48305799168,
         "memory_bandwidth_gbps": 864, "bf16_tflops": 362, "fp8_tflops": 733, "int8_tflops": 733},
        {"name": "a100-40gb", "aliases": ["a100", "a100-40"], "display_name": "NVIDIA A100 SXM 40 GB", "memory_bytes": 42949672960,
         "memory_bandwidth_gbps": 1555, "bf16_tflops": 312, "int8_tflops": 624,
         "mig_profiles": [
           {"name": "1g.5gb", "compute_slices": 1, "memory_slices": 1, "max_instances": 7},
           {"name": "2g.10gb", "compute_slices": 2, "memory_slices": 2, "max_instances": 3},
           {"name": "3g.20gb", "compute_slices": 3, "memory_slices": 4, "max_instances": 2},
           {"name": "4g.20gb", "compute_slices": 4, "memory_slices": 4, "max_instances": 1},
           {"name": "7g.40gb", "compute_slices": 7, "memory_slices": 8, "max_instances": 1}]},
        {"name": "a100-80gb", "aliases": ["a100-80"], "display_name": "NVIDIA A100 SXM 80 GB", "memory_bytes": 85899345920,
         "memory_bandwidth_gbps": 2039, "bf16_tflops": 312, "int8_tflops": 624,
         "mig_profiles": [
           {"name": "1g.10gb", "compute_slices": 1, "memory_slices": 1, "max_instances": 7},
           {"name": "1g.20gb", "compute_slices": 1, "memory_slices": 2, "max_instances": 4},
           {"name": "2g.20gb", "compute_slices": 2, "memory_slices": 2, "max_instances": 3},
           {"name": "3g.40gb", "compute_slices": 3, "memory_slices": 4, "max_instances": 2},
           {"name": "4g.40gb", "compute_slices": 4, "memory_slices": 4, "max_instances": 1},
           {"name": "7g.80gb", "compute_slices": 7, "memory_slices": 8, "max_instances": 1}]},
        {"name": "h100", "aliases": ["h100-80gb", "h100-sxm"], "display_name": "NVIDIA H100 SXM 80 GB", "memory_bytes": 85520809984,
         "memory_bandwidth_gbps": 3350, "bf16_tflops": 989, "fp8_tflops": 1979, "int8_tflops": 1979,
         "mig_profiles": [
           {"name": "1g.10gb", "compute_slices": 1, "memory_slices": 1, "max_instances": 7},
           {"name": "1g.20gb", "compute_slices": 1, "memory_slices": 2, "max_instances": 4},
           {"name": "2g.20gb", "compute_slices": 2, "memory_slices": 2, "max_instances": 3},
           {"name": "3g.40gb", "compute_slices": 3, "memory_slices": 4, "max_instances": 2},
           {"name": "4g.40gb", "compute_slices": 4, "memory_slices": 4, "max_instances": 1},
           {"name": "7g.80gb", "compute_slices": 7, "memory_slices": 8, "max_instances": 1}]},
        {"name": "h200", "aliases": ["h200-141gb"], "display_name": "NVIDIA H200 SXM 141 GB", "memory_bytes": 150754820096,
         "memory_bandwidth_gbps": 4800, "bf16_tflops": 989, "fp8_tflops": 1979, "int8_tflops": 1979,
         "mig_profiles": [
           {"name": "1g.18gb", "compute_slices": 1, "memory_slices": 1, "max_instances": 7},
           {"name": "1g.35gb", "compute_slices": 1, "memory_slices": 2, "max_instances": 4},
           {"name": "2g.35gb", "compute_slices": 2, "memory_slices": 2, "max_instances": 3},
           {"name": "3g.71gb", "compute_slices": 3, "memory_slices": 4, "max_instances": 2},
           {"name": "4g.71gb", "compute_slices": 4, "memory_slices": 4, "max_instances": 1},
           {"name": "7g.141gb", "compute_slices": 7, "memory_slices": 8, "max_instances": 1}]}
      ],
      "instances": [
        {"name": "g5.xlarge", "gpu": "a10g", "gpus": 1, "on_demand_usd_per_hour": 1.006, "spot_usd_per_hour": 0.45},
        {"name": "g5.12xlarge", "gpu": "a10g", "gpus": 4, "on_demand_usd_per_hour": 5.672, "spot_usd_per_hour": 2.55},
        {"name": "g5.48xlarge", "gpu": "a10g", "gpus": 8, "on_demand_usd_per_hour": 16.288, "spot_usd_per_hour": 7.33},
        {"name": "g6.xlarge", "gpu": "l4", "gpus": 1, "on_demand_usd_per_hour": 0.805, "spot_usd_per_hour": 0.36},
        {"name": "g6.12xlarge", "gpu": "l4", "gpus": 4, "on_demand_usd_per_hour": 4.602, "spot_usd_per_hour": 2.07},
        {"name": "g6.48xlarge", "gpu": "l4", "gpus": 8, "on_demand_usd_per_hour": 13.350, "spot_usd_per_hour": 6.01},
        {"name": "g6e.xlarge", "gpu": "l40s", "gpus": 1, "on_demand_usd_per_hour": 1.861, "spot_usd_per_hour": 0.93},
        {"name": "g6e.12xlarge", "gpu": "l40s", "gpus": 4, "on_demand_usd_per_hour": 10.493, "spot_usd_per_hour": 5.25},
        {"name": "g6e.48xlarge", "gpu": "l40s", "gpus": 8, "on_demand_usd_per_hour": 30.131, "spot_usd_per_hour": 15.07},
        {"name": "p4d.24xlarge", "gpu": "a100-40gb", "gpus": 8, "on_demand_usd_per_hour": 21.958, "spot_usd_per_hour": 10.98},
        {"name": "p4de.24xlarge", "gpu": "a100-80gb", "gpus": 8, "on_demand_usd_per_hour": 27.447, "spot_usd_per_hour": 13.72},
        {"name": "p5.48xlarge", "gpu": "h100", "gpus": 8, "on_demand_usd_per_hour": 55.040, "spot_usd_per_hour": 27.52},
        {"name": "p5en.48xlarge", "gpu": "h200", "gpus": 8, "on_demand_usd_per_hour": 63.296, "spot_usd_per_hour": 31.65}
      ]
    }
    """#
}
