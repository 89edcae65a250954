using System.Globalization;
using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Introspection.DeviceTree;

namespace QemuTestKit.Machines.CommandLine;

/// <summary>
/// Where added devices go, read from the machine type's real device tree: its root PCI bus (<c>pcie.0</c> on q35 and
/// virt, <c>pci.0</c> on pc) with the slots its own devices leave free, and the IDE buses of its built-in controller
/// (six one-unit AHCI ports on q35, two two-unit PIIX channels on pc, none on virt). Explicit buses and addresses
/// rather than QEMU's first-free choice keep the hardware the same whatever else is plugged in.
/// </summary>
internal sealed record BusLayout(string? RootBus, IReadOnlyList<int> FreeSlots, IReadOnlyList<string> IdeBuses, int IdeUnitsPerBus, QemuCatalog Catalog)
{
    // Slot 0x1f is where chipsets put their own functions (q35's ICH9), so added devices stop before it.
    private const int LastSlot = 0x1e;

    /// <summary>The layout of <paramref name="tree"/>; without a tree, nothing is placed and QEMU chooses.</summary>
    public static BusLayout From(MachineDeviceTree? tree, QemuCatalog catalog)
    {
        if (tree is null)
        {
            return new BusLayout(null, [], [], 0, catalog);
        }

        var qom = new QomAncestry(catalog);
        var root = tree.Root.Devices.SelectMany(d => d.Buses).FirstOrDefault(b => qom.Reaches(b.Type, "PCI"));
        var free = new List<int>();
        if (root is not null)
        {
            var taken = root.Devices.Select(d => SlotOf(d.Address)).OfType<int>().ToHashSet();
            free.AddRange(Enumerable.Range(0, LastSlot + 1).Where(s => !taken.Contains(s)));
            if (free.Count > 0 && tree.AllBuses().Any(b => qom.Reaches(b.Type, "ISA")))
            {
                // A PC (a machine with an ISA bridge) keeps its first free slot for the VGA its firmware and guests expect there.
                free.RemoveAt(0);
            }
        }

        var controller = tree.AllDevices().FirstOrDefault(d => d.Buses.Any(b => qom.Reaches(b.Type, "IDE")));
        var ide = controller?.Buses.Where(b => qom.Reaches(b.Type, "IDE")).Select(b => b.Name).ToArray() ?? [];
        // An AHCI controller has one device per port (bus); a PIIX-style channel has a master and a slave.
        var units = controller is null ? 0 : controller.Type.Contains("ahci", StringComparison.Ordinal) ? 1 : 2;
        return new BusLayout(root?.Name, free, ide, units, catalog);
    }

    /// <summary>The bus (and unit) of the machine's <paramref name="index"/>th IDE device; none when the machine has no
    /// IDE bus of its own (QEMU then picks one of a controller the spec adds) or no room left.</summary>
    public IEnumerable<KeyValuePair<string, string?>> IdeBus(int index)
    {
        if (index >= IdeBuses.Count * IdeUnitsPerBus)
        {
            return [];
        }

        var bus = new KeyValuePair<string, string?>("bus", IdeBuses[index / IdeUnitsPerBus]);
        return IdeUnitsPerBus == 1 ? [bus] : [bus, new("unit", (index % IdeUnitsPerBus).ToString(CultureInfo.InvariantCulture))];
    }

    private static int? SlotOf(string? address) =>
        address is { Length: > 0 } && int.TryParse(address.Split('.')[0], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var slot) ? slot : null;
}

/// <summary>Hands out the free PCI slots of the root bus in declaration order.</summary>
internal sealed class PciSlotAllocator(BusLayout layout)
{
    private readonly Dictionary<string, bool> _isPci = new(StringComparer.Ordinal);
    private readonly QomAncestry _qom = new(layout.Catalog);
    private int _next;

    public BusLayout Layout => layout;

    public bool IsPci(string deviceType)
    {
        if (layout.RootBus is null)
        {
            return false;
        }

        if (!_isPci.TryGetValue(deviceType, out var pci))
        {
            // pci-device is an interface in some QEMU versions, not a parent class: then the device's properties tell.
            pci = _qom.Reaches(deviceType, "pci-device") || layout.Catalog.FindDevice(deviceType)?.FindProperty("addr") is { Type: "int32" };
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

        if (_next >= layout.FreeSlots.Count)
        {
            throw new InvalidOperationException($"more PCI devices than free slots on {layout.RootBus}");
        }

        var slot = layout.FreeSlots[_next++];
        return [new("bus", layout.RootBus), new("addr", string.Create(CultureInfo.InvariantCulture, $"0x{slot:x2}"))];
    }
}
