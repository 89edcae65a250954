using QemuTestKit.Introspection.DeviceTree;

namespace QemuTestKit.Machines.Validation;

/// <summary>
/// What the validator may know beyond the spec and the catalog. Every part is optional: a check whose input is
/// unknown is skipped rather than guessed.
/// </summary>
public sealed record ValidationContext
{
    /// <summary>The machine will run under record/replay, which QEMU supports with TCG only.</summary>
    public bool Recording { get; init; }

    /// <summary>The machine type's real bus/device tree, for checking the buses devices are plugged into.</summary>
    public MachineDeviceTree? DeviceTree { get; init; }

    /// <summary>
    /// The bus types each device type of the spec brings to the machine (<see cref="QemuTestKit.Introspection.DeviceTree.ControllerBuses"/>), so that a
    /// device whose bus the machine lacks is accepted when the spec declares a controller for it. A type missing here
    /// brings no bus.
    /// </summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>>? ControllerBuses { get; init; }

    /// <summary>How to tell whether a file exists; defaults to <see cref="File.Exists(string)"/> (tests pass a fake).</summary>
    public Func<string, bool>? FileExists { get; init; }

    /// <summary>The host's memory, to reject guests that cannot fit.</summary>
    public long? HostMemoryMiB { get; init; }

    /// <summary>Whether a KVM guest really runs on this host (found by trying it); null when nobody tried.</summary>
    public bool? KvmUsable { get; init; }
}
