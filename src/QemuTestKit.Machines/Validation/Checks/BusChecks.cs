using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Introspection.DeviceTree;

namespace QemuTestKit.Machines.Validation.Checks;

/// <summary>
/// Devices go on buses the machine really has, judged by the machine type's device tree (skipped without one):
/// an explicit <c>bus=</c> must name one of its buses, and a PCI device needs a PCI or PCIe bus to land on.
/// </summary>
internal static class BusChecks
{
    public static void Check(ValidationRun run)
    {
        if (run.Context.DeviceTree is not { } tree)
        {
            return;
        }

        var qom = new QomAncestry(run.Catalog);
        var buses = tree.AllBuses().ToArray();
        var hasPci = buses.Any(b => qom.Reaches(b.Type, "PCI"));
        var specIds = SpecDeviceIds(run);
        foreach (var use in run.DeviceUses)
        {
            if (run.Catalog.FindDevice(use.Type) is null)
            {
                continue;
            }

            if (use.Properties.TryGetValue("bus", out var bus))
            {
                CheckNamedBus(run, use, bus, buses, specIds, tree);
            }
            else if (!hasPci && qom.Reaches(use.Type, "pci-device"))
            {
                run.Errors.Add(MachineSpecErrorCodes.BusNotOnMachine, use.TypeField, use.Type,
                    $"is a PCI device, but machine type '{tree.MachineType}' has no PCI bus (its buses: {Names(buses)})",
                    $"a device for one of the buses of '{tree.MachineType}'");
            }
        }
    }

    private static void CheckNamedBus(ValidationRun run, DeviceUse use, string bus, QomBusNode[] buses, HashSet<string> specIds,
        MachineDeviceTree tree)
    {
        if (buses.Any(b => b.Name == bus || b.Path == bus) || ProvidedBySpec(bus, specIds))
        {
            return;
        }

        run.Errors.Add(MachineSpecErrorCodes.BusNotOnMachine, use.PropertyField("bus"), bus,
            $"is not a bus of machine type '{tree.MachineType}' (its buses: {Names(buses)})",
            $"a bus of '{tree.MachineType}' or of a device in the spec", NearMiss.Suggest(bus, buses.Select(b => b.Name)));
    }

    // A device the spec adds with id=X provides its bus as X (or X.0, X.1... when it has several).
    private static bool ProvidedBySpec(string bus, HashSet<string> specIds)
    {
        var dot = bus.LastIndexOf('.');
        return specIds.Contains(bus) || (dot > 0 && specIds.Contains(bus[..dot]) && bus[(dot + 1)..].All(char.IsAsciiDigit));
    }

    private static HashSet<string> SpecDeviceIds(ValidationRun run)
    {
        var ids = run.Spec.Devices.Select(d => d.Id).OfType<string>().ToHashSet(StringComparer.Ordinal);
        foreach (var use in run.DeviceUses)
        {
            if (use.Properties.TryGetValue("id", out var id))
            {
                ids.Add(id);
            }
        }

        return ids;
    }

    private static string Names(IEnumerable<QomBusNode> buses) => string.Join(", ", buses.Select(b => b.Name).Distinct(StringComparer.Ordinal));
}

/// <summary>Walks a catalog's QOM parent links, to ask whether a type is a kind of another.</summary>
internal sealed class QomAncestry
{
    private readonly Dictionary<string, string?> _parents;

    public QomAncestry(QemuCatalog catalog)
    {
        _parents = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (var type in catalog.QomTypes)
        {
            _parents[type.Name] = type.Parent;
        }

        foreach (var device in catalog.DeviceTypes)
        {
            _parents.TryAdd(device.Name, device.Parent);
        }
    }

    public bool Reaches(string type, string ancestor)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (string? current = type; current is not null && seen.Add(current); current = _parents.GetValueOrDefault(current))
        {
            if (current == ancestor)
            {
                return true;
            }
        }

        return false;
    }
}
