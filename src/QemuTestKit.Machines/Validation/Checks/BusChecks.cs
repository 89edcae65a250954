using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Introspection.DeviceTree;

namespace QemuTestKit.Machines.Validation.Checks;

/// <summary>
/// Devices go on buses the machine really has, judged by the machine type's device tree (skipped without one): an
/// explicit <c>bus=</c> must name one of its buses, and a device of a bus kind (USB, IDE, ISA, PCI, ... see
/// <see cref="BusKinds"/>) needs a bus of that kind on the machine or a controller in the spec that brings one.
/// </summary>
internal static class BusChecks
{
    // Disks of these interfaces come with a controller the command line adds (QemuCommandLine.AddDisks), which needs PCI.
    private static readonly string[] DisksWithOwnController = ["scsi-hd", "scsi-cd"];

    public static void Check(ValidationRun run)
    {
        if (run.Context.DeviceTree is not { } tree)
        {
            return;
        }

        var qom = new QomAncestry(run.Catalog);
        var buses = tree.AllBuses().ToArray();
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
            else if (KindOf(use, qom) is { } kind && !buses.Any(b => qom.Reaches(b.Type, kind.BusType)) && !BroughtBySpec(run, use, kind, qom))
            {
                run.Errors.Add(MachineSpecErrorCodes.BusNotOnMachine, use.TypeField, use.Type,
                    $"needs {kind.Name} ({kind.BusType}), but machine type '{tree.MachineType}' has none (its buses: {Names(buses)})",
                    $"a device for one of the buses of '{tree.MachineType}'", hint: Remedy(run, use, kind, buses, qom));
            }
        }
    }

    /// <summary>
    /// The device types of the spec that could bring a bus the machine lacks, to ask QEMU about
    /// (<see cref="ValidationContext.ControllerBuses"/>); empty when every device's bus kind is on the machine.
    /// </summary>
    public static IReadOnlyList<string> ControllerCandidates(ValidationRun run, MachineDeviceTree tree)
    {
        var qom = new QomAncestry(run.Catalog);
        var buses = tree.AllBuses().ToArray();
        var known = run.DeviceUses.Where(u => run.Catalog.FindDevice(u.Type) is not null).ToArray();
        bool Missing(DeviceUse use) => !use.Properties.ContainsKey("bus") && KindOf(use, qom) is { } kind && !buses.Any(b => qom.Reaches(b.Type, kind.BusType));
        var lacking = known.Where(Missing).ToArray();
        return lacking.Length == 0
            ? []
            : known.Except(lacking).Select(u => u.Type).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();
    }

    private static BusKind? KindOf(DeviceUse use, QomAncestry qom)
    {
        var type = use.Role == DeviceRole.Disk && DisksWithOwnController.Contains(use.Type, StringComparer.Ordinal) ? "virtio-scsi-pci" : use.Type;
        return BusKinds.All.FirstOrDefault(k => qom.Reaches(type, k.DeviceType));
    }

    private static bool BroughtBySpec(ValidationRun run, DeviceUse use, BusKind kind, QomAncestry qom) =>
        run.Context.ControllerBuses is { } brought && run.DeviceUses.Any(other => !ReferenceEquals(other, use)
            && brought.TryGetValue(other.Type, out var types) && types.Any(t => qom.Reaches(t, kind.BusType)));

    // The controller the kind suggests, when this binary has it and the machine can take it; for a disk, also the
    // interface every PCI machine takes.
    private static string Remedy(ValidationRun run, DeviceUse use, BusKind kind, QomBusNode[] buses, QomAncestry qom)
    {
        bool Fits(string type) => run.Catalog.FindDevice(type) is not null
            && (BusKinds.All.FirstOrDefault(k => qom.Reaches(type, k.DeviceType)) is not { } own || buses.Any(b => qom.Reaches(b.Type, own.BusType)));

        var ways = new List<string>();
        if (kind.Controller is { } controller && Fits(controller))
        {
            ways.Add($"add a device that brings one, such as a QemuDevice with Type={controller}");
        }

        if (use.Role == DeviceRole.Disk && use.Type != "virtio-blk-pci" && Fits("virtio-blk-pci"))
        {
            ways.Add("use Interface=virtio-blk-pci");
        }

        ways.Add($"pick a device type for one of its buses: 'qemutestkit introspect --qemu {run.Spec.QemuBinary} --machine {run.Spec.MachineType}' shows them");
        return ways.Count == 1 ? ways[0] : $"{string.Join(", ", ways[..^1])}, or {ways[^1]}";
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

    // Numbered runs shortened ("virtio-mmio-bus.0-31"): aarch64's virt alone has 32 virtio-mmio buses.
    private static string Names(IEnumerable<QomBusNode> buses)
    {
        var names = buses.Select(b => b.Name).Distinct(StringComparer.Ordinal).ToArray();
        var shown = new List<string>();
        foreach (var group in names.GroupBy(Stem, StringComparer.Ordinal))
        {
            var numbers = group.Select(n => n[(n.LastIndexOf('.') + 1)..]).ToArray();
            shown.Add(group.Count() > 2 && numbers.All(n => n.Length > 0 && n.All(char.IsAsciiDigit))
                ? $"{group.Key}.{numbers.Min(Number)}-{numbers.Max(Number)}"
                : string.Join(", ", group));
        }

        return string.Join(", ", shown);
    }

    private static int Number(string digits) => int.Parse(digits, System.Globalization.CultureInfo.InvariantCulture);

    private static string Stem(string name) => name.LastIndexOf('.') is var dot and > 0 ? name[..dot] : name;
}
