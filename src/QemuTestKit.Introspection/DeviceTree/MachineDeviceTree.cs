namespace QemuTestKit.Introspection.DeviceTree;

/// <summary>
/// The buses and devices of a machine as QEMU really built them (what HMP <c>info qtree</c> shows), read over QMP
/// by walking the QOM composition tree under <c>/machine</c>.
/// </summary>
/// <param name="MachineType">The machine type the tree was read from.</param>
/// <param name="Root">The main system bus, from which every bus-attached device hangs.</param>
/// <param name="DevicesWithoutBus">Devices that sit on no bus (CPUs, for example).</param>
public sealed record MachineDeviceTree(string MachineType, QomBusNode Root, IReadOnlyList<QomDeviceNode> DevicesWithoutBus)
{
    /// <summary>Every device in the tree, depth first.</summary>
    public IEnumerable<QomDeviceNode> AllDevices()
    {
        foreach (var device in DevicesWithoutBus.Concat(Root.AllDevices()))
        {
            yield return device;
        }
    }

    /// <summary>Every bus in the tree, depth first.</summary>
    public IEnumerable<QomBusNode> AllBuses() => Root.AllBuses();
}

/// <summary>A bus: its QOM path, its name (for example <c>pcie.0</c>), its type and the devices plugged into it.</summary>
public sealed record QomBusNode(string Path, string Name, string Type, IReadOnlyList<QomDeviceNode> Devices)
{
    public IEnumerable<QomDeviceNode> AllDevices() => Devices.SelectMany(d => d.AllDevices());

    public IEnumerable<QomBusNode> AllBuses() => new[] { this }.Concat(Devices.SelectMany(d => d.Buses).SelectMany(b => b.AllBuses()));
}

/// <summary>
/// A device: its QOM path, its type, the id it was given with <c>-device ...,id=</c> (null for devices the machine
/// created itself), the bus it sits on, its address on that bus (PCI as <c>slot.function</c> in hex), and the buses it provides.
/// </summary>
public sealed record QomDeviceNode(string Path, string Type, string? Id, string? Bus, string? Address, IReadOnlyList<QomBusNode> Buses)
{
    public IEnumerable<QomDeviceNode> AllDevices() => new[] { this }.Concat(Buses.SelectMany(b => b.AllDevices()));
}
