using QemuTestKit.Machines.CommandLine;
using QemuTestKit.Machines.Runtime;

namespace QemuTestKit.Containers;

/// <summary>How to start one machine in a container.</summary>
public sealed record ContainerMachineOptions
{
    /// <summary>The image with QEMU in it.</summary>
    public string Image { get; init; } = QemuBuilder.DefaultImage;

    /// <summary>The Docker engine: null for <c>DOCKER_HOST</c>, else the local socket.</summary>
    public Uri? DockerEndpoint { get; init; }

    public RunMode Mode { get; init; } = RunMode.Normal;

    /// <summary>For a cold start (no ready state): count instructions with this shift, so a ready state made from it can be recorded from.</summary>
    public int? IcountShift { get; init; }

    /// <summary>For recorded runs: take a checkpoint automatically this often.</summary>
    public TimeSpan? CheckpointInterval { get; init; }

    /// <summary>Leave the CPUs stopped after start.</summary>
    public bool Paused { get; init; }

    /// <summary>Where host-side run directories go (collected files for bundles, QEMU's stderr).</summary>
    public string? RunRoot { get; init; }

    /// <summary>Container start, file copies and QMP included.</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>Keep the host-side run directory after disposal.</summary>
    public bool KeepRunDirectory { get; init; }

    /// <summary>
    /// The container start that matches a local start with <paramref name="local"/> (mode, checkpoints, icount, run
    /// root), in <paramref name="image"/> (the default image when null or empty).
    /// </summary>
    public static ContainerMachineOptions From(MachineStartOptions local, string? image = null)
    {
        ArgumentNullException.ThrowIfNull(local);
        return new ContainerMachineOptions
        {
            Image = string.IsNullOrEmpty(image) ? QemuBuilder.DefaultImage : image,
            Mode = local.Mode,
            CheckpointInterval = local.CheckpointInterval,
            Paused = local.Paused,
            RunRoot = local.RunRoot,
            KeepRunDirectory = local.KeepRunDirectory,
            IcountShift = local.IcountShift,
        };
    }
}
