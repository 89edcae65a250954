using System.Globalization;
using QemuTestKit.Introspection.Catalog;

namespace QemuTestKit.Machines.CommandLine;

/// <summary>
/// Where a machine type's own PCI root bus is and which slots its built-in devices take, so added devices get
/// explicit addresses instead of QEMU's first-free choice (which depends on what else is plugged in).
/// </summary>
internal sealed record PciLayout(string? RootBus, int FirstFreeSlot, bool AhciIde, QemuCatalog Catalog)
{
    public static PciLayout For(string machineType, QemuCatalog catalog)
    {
        var name = catalog.FindMachine(machineType)?.Name ?? machineType;
        if (name.StartsWith("pc-q35", StringComparison.Ordinal) || name == "q35")
        {
            // 00.0 is the MCH and 1f.x the ICH9 functions; slot 1 is left for a display device.
            return new PciLayout("pcie.0", 2, AhciIde: true, catalog);
        }

        if (name.StartsWith("pc-i440fx", StringComparison.Ordinal) || name == "pc")
        {
            // 00.0 is the host bridge and 01.x the PIIX functions; slot 2 is left for a display device.
            return new PciLayout("pci.0", 3, AhciIde: false, catalog);
        }

        if (name.StartsWith("virt", StringComparison.Ordinal))
        {
            return new PciLayout("pcie.0", 1, AhciIde: false, catalog);
        }

        return new PciLayout(null, 0, AhciIde: false, catalog);
    }

    public IEnumerable<KeyValuePair<string, string?>> IdeBus(int unit) => AhciIde
        ? [new("bus", string.Create(CultureInfo.InvariantCulture, $"ide.{unit}"))]
        : [new("bus", string.Create(CultureInfo.InvariantCulture, $"ide.{unit / 2}")), new("unit", string.Create(CultureInfo.InvariantCulture, $"{unit % 2}"))];
}

/// <summary>Hands out PCI slots on the root bus in declaration order.</summary>
internal sealed class PciSlotAllocator(PciLayout layout)
{
    private readonly Dictionary<string, bool> _isPci = new(StringComparer.Ordinal);
    private int _next = layout.FirstFreeSlot;

    public bool IsPci(string deviceType)
    {
        if (layout.RootBus is null)
        {
            return false;
        }

        if (!_isPci.TryGetValue(deviceType, out var pci))
        {
            pci = Descends(deviceType, "pci-device");
            _isPci[deviceType] = pci;
        }

        return pci;
    }

    public IEnumerable<KeyValuePair<string, string?>> Next()
    {
        if (layout.RootBus is null)
        {
            return [];
        }

        if (_next > 0x1e)
        {
            throw new InvalidOperationException($"more PCI devices than free slots on {layout.RootBus}");
        }

        var slot = _next++;
        return [new("bus", layout.RootBus), new("addr", string.Create(CultureInfo.InvariantCulture, $"0x{slot:x2}"))];
    }

    private Dictionary<string, string?>? _parents;

    private bool Descends(string type, string ancestor)
    {
        var parents = _parents ??= layout.Catalog.QomTypes.ToDictionary(t => t.Name, t => t.Parent, StringComparer.Ordinal);
        var current = type;
        for (var depth = 0; current is not null && depth < 64; depth++)
        {
            if (current == ancestor)
            {
                return true;
            }

            current = parents.GetValueOrDefault(current);
        }

        // pci-device is an interface in some QEMU versions, not a parent class: fall back to the device's properties.
        return layout.Catalog.FindDevice(type)?.FindProperty("addr") is { Type: "int32" };
    }
}
