using QemuTestKit.Machines.Runtime;
using QemuTestKit.Machines.Specs;

namespace QemuTestKit.Containers;

/// <summary>
/// One call for "start this machine where its manifest entry says": <c>host</c> "local" (or absent) runs QEMU as a
/// local process from the ready state, "container" runs it in <c>image</c>. Test code sees the same
/// <see cref="QemuMachine"/> either way.
/// </summary>
public static class QemuMachineHosts
{
    public const string Local = MachineHosts.Local;
    public const string Container = MachineHosts.Container;

    /// <exception cref="ArgumentException"><paramref name="host"/> is neither "local" nor "container".</exception>
    public static Task<QemuMachine> StartAsync(string? host, string? image, MachineSpec spec, ReadyState? ready, MachineStartOptions local,
        ContainerMachineOptions? container = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(local);
        switch (host ?? Local)
        {
            case Local:
                return ready is null ? QemuMachine.StartAsync(spec, local, cancellationToken) : ready.StartAsync(spec, local, cancellationToken);
            case Container:
                var options = (container ?? new ContainerMachineOptions()) with
                {
                    Mode = local.Mode,
                    CheckpointInterval = local.CheckpointInterval,
                    Paused = local.Paused,
                    RunRoot = local.RunRoot,
                    KeepRunDirectory = local.KeepRunDirectory,
                    IcountShift = local.IcountShift,
                };
                if (!string.IsNullOrEmpty(image))
                {
                    options = options with { Image = image };
                }

                return QemuContainerMachines.StartAsync(spec, ready, options, cancellationToken);
            default:
                throw new ArgumentException($"machine '{spec.Name}': host '{host}' is not 'local' or 'container'", nameof(host));
        }
    }
}
