namespace QemuTestKit.Introspection.DeviceTree;

/// <summary>
/// Which buses a device type brings (a <c>qemu-xhci</c> a <c>usb-bus</c>, an <c>ich9-ahci</c> six <c>IDE</c> buses), read
/// from the tree QEMU builds with one such device added: the catalog does not say, and no name pattern tells all controllers.
/// </summary>
public static class ControllerBuses
{
    /// <summary>The id the probed device gets.</summary>
    public const string ProbeId = "qtk-probe";

    /// <summary>The types of the free buses (QOM type names, sorted) a device of <paramref name="deviceType"/> brings to <paramref name="machineType"/>.</summary>
    /// <exception cref="QemuProbeException">QEMU refused the device on that machine, or did not answer in time.</exception>
    public static async Task<IReadOnlyList<string>> ReadAsync(string binary, string machineType, string deviceType, TimeSpan? timeout = null,
        CancellationToken cancellationToken = default)
    {
        // A literal comma in a -device value is written twice (some board devices are named "vendor,model").
        var tree = await DeviceTreeReader.ReadAsync(binary, machineType, ["-device", $"{deviceType.Replace(",", ",,", StringComparison.Ordinal)},id={ProbeId}"],
            timeout, cancellationToken).ConfigureAwait(false);
        return BroughtBy(tree, ProbeId);
    }

    /// <summary>The types of the free buses below the device with id <paramref name="id"/> in <paramref name="tree"/>.</summary>
    public static IReadOnlyList<string> BroughtBy(MachineDeviceTree tree, string id)
    {
        ArgumentNullException.ThrowIfNull(tree);
        // A bus that already holds a device is taken: a virtio-rng-pci's virtio-pci-bus carries its own virtio-rng-device.
        return tree.AllDevices().Where(d => d.Id == id)
            .SelectMany(d => d.Buses.SelectMany(b => b.AllBuses()))
            .Where(b => b.Devices.Count == 0)
            .Select(b => b.Type)
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal)
            .ToArray();
    }
}
