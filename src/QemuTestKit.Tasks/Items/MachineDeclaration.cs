using QemuTestKit.Machines.Specs;
using QemuTestKit.Tasks.Diagnostics;

namespace QemuTestKit.Tasks.Items;

/// <summary>
/// A <c>QemuMachine</c> item turned into a <see cref="MachineSpec"/> (paths absolute), with the items its disks, NICs and
/// devices came from (in spec order), and the metadata that could not be read (whose spec value is a stand-in default,
/// so the validator's opinion on it is not reported).
/// </summary>
internal sealed class MachineDeclaration
{
    public MachineDeclaration(ItemRef item, MachineSpec spec, bool prepare, IReadOnlyList<ItemRef> disks, IReadOnlyList<ItemRef> nics,
        IReadOnlyList<ItemRef> devices, IReadOnlySet<(ItemRef Item, string Metadata)> unreadable)
    {
        Item = item;
        Spec = spec;
        Prepare = prepare;
        Disks = disks;
        Nics = nics;
        Devices = devices;
        Unreadable = unreadable;
    }

    public ItemRef Item { get; }

    public MachineSpec Spec { get; }

    public string Name => Spec.Name;

    /// <summary>Boot it once during the build and save its ready state.</summary>
    public bool Prepare { get; }

    /// <summary>
    /// Whether its tests record it: <c>Record="false"</c> runs it unrecorded whatever <c>QEMUTESTKIT_RECORD</c> says (and
    /// the build prepares a ready state for unrecorded runs); null follows the run. A test's own
    /// <c>MachineOptions.Record</c> wins over both.
    /// </summary>
    public bool? Record { get; init; }

    /// <summary>Where QEMU runs in tests: <c>local</c> or <c>container</c> (<see cref="ItemTypes.Hosts"/>).</summary>
    public string Host { get; init; } = ItemTypes.Hosts.Local;

    /// <summary>The container image for <c>Host="container"</c>; null for local machines.</summary>
    public string? Image { get; init; }

    /// <summary>
    /// Whether this build boots it: only <c>Prepare="true"</c> machines that run locally. A container machine's ready
    /// state is made in its image by the fixtures at first use, so the build needs no Docker engine.
    /// </summary>
    public bool PreparedByBuild => Prepare && Host == ItemTypes.Hosts.Local;

    public IReadOnlyList<ItemRef> Disks { get; }

    public IReadOnlyList<ItemRef> Nics { get; }

    public IReadOnlyList<ItemRef> Devices { get; }

    public IReadOnlySet<(ItemRef Item, string Metadata)> Unreadable { get; }

    /// <summary>The files a ready state depends on besides the spec: kernel, initrd, firmware given as a path, disks.</summary>
    public IEnumerable<string> InputFiles()
    {
        foreach (var file in new[] { Spec.Kernel, Spec.Initrd })
        {
            if (file is not null)
            {
                yield return file;
            }
        }

        if (Spec.Firmware is { } firmware && Path.IsPathRooted(firmware))
        {
            yield return firmware;
        }

        foreach (var disk in Spec.Disks)
        {
            yield return disk.Path;
        }
    }
}
