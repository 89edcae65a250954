using System.Globalization;
using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Machines.CommandLine;

namespace QemuTestKit.Machines.Validation.Checks;

/// <summary>
/// The devices the command line places itself fit on the machine's buses (judged by its device tree, skipped without
/// one): PCI devices on the free slots of the root bus, IDE disks on the units of the built-in IDE controller. Beyond
/// that QEMU would refuse to start.
/// </summary>
internal static class BusRoomChecks
{
    public static void Check(ValidationRun run)
    {
        if (run.Context.DeviceTree is not { } tree)
        {
            return;
        }

        var layout = BusLayout.From(tree, run.Catalog);
        var pci = new PciSlotAllocator(layout);
        CheckPci(run, layout, PlacedOnPci(run, pci));
        CheckIde(run, layout, tree.MachineType);
    }

    // What QemuCommandLine puts on the root bus itself, in its order: disks (one controller for all SCSI disks), NICs, devices.
    private static List<(string Field, string Type)> PlacedOnPci(ValidationRun run, PciSlotAllocator pci)
    {
        var placed = new List<(string, string)>();
        var scsi = false;
        for (var i = 0; i < run.Spec.Disks.Count; i++)
        {
            var type = run.Spec.Disks[i].Interface;
            var field = Field("Disks", i, "Interface");
            if (type is "scsi-hd" or "scsi-cd")
            {
                if (!scsi)
                {
                    placed.Add((field, "virtio-scsi-pci"));
                }

                scsi = true;
            }
            else if (type is not ("ide-hd" or "ide-cd") && pci.IsPci(type))
            {
                placed.Add((field, type));
            }
        }

        for (var i = 0; i < run.Spec.Nics.Count; i++)
        {
            if (pci.IsPci(run.Spec.Nics[i].Model))
            {
                placed.Add((Field("Nics", i, "Model"), run.Spec.Nics[i].Model));
            }
        }

        for (var i = 0; i < run.Spec.Devices.Count; i++)
        {
            var device = run.Spec.Devices[i];
            var properties = device.Properties ?? new Dictionary<string, string>();
            if (pci.IsPci(device.Type) && !properties.ContainsKey("bus") && !properties.ContainsKey("addr"))
            {
                placed.Add((Field("Devices", i, "Type"), device.Type));
            }
        }

        return placed;
    }

    private static void CheckPci(ValidationRun run, BusLayout layout, List<(string Field, string Type)> placed)
    {
        if (layout.RootBus is null || placed.Count <= layout.FreeSlots.Count)
        {
            return;
        }

        var (field, type) = placed[layout.FreeSlots.Count];
        run.Errors.Add(MachineSpecErrorCodes.NoRoomOnBus, field, type,
            string.Create(CultureInfo.InvariantCulture,
                $"is PCI device number {layout.FreeSlots.Count + 1} of the spec, but bus '{layout.RootBus}' of machine type '{run.Spec.MachineType}' has {layout.FreeSlots.Count} free slots"),
            $"at most {layout.FreeSlots.Count} PCI devices placed on '{layout.RootBus}'",
            hint: "drop some, or put them behind a bridge: a QemuDevice with Type=pcie-root-port or pci-bridge and Id=X, and Properties bus=X on the others");
    }

    private static void CheckIde(ValidationRun run, BusLayout layout, string machineType)
    {
        var room = layout.IdeBuses.Count * layout.IdeUnitsPerBus;
        var ide = run.Spec.Disks.Select((d, i) => (Disk: d, Index: i)).Where(d => d.Disk.Interface is "ide-hd" or "ide-cd").ToArray();
        // Past its own units, QEMU puts IDE disks on a controller the spec declares; without one they cannot go anywhere.
        if (room == 0 || ide.Length <= room || BringsIde(run))
        {
            return;
        }

        var (disk, index) = ide[room];
        run.Errors.Add(MachineSpecErrorCodes.NoRoomOnBus, Field("Disks", index, "Interface"), disk.Interface,
            string.Create(CultureInfo.InvariantCulture,
                $"is IDE disk number {room + 1}, but machine type '{machineType}' has room for {room} on its IDE buses ({string.Join(", ", layout.IdeBuses)})"),
            $"at most {room} IDE disks", hint: "use Interface=virtio-blk-pci for the others, or add an IDE controller: a QemuDevice with Type=ich9-ahci");
    }

    private static bool BringsIde(ValidationRun run)
    {
        var qom = new QomAncestry(run.Catalog);
        return run.Context.ControllerBuses is { } brought
            && run.DeviceUses.Any(u => brought.TryGetValue(u.Type, out var types) && types.Any(t => qom.Reaches(t, "IDE")));
    }

    private static string Field(string list, int index, string member) =>
        string.Create(CultureInfo.InvariantCulture, $"{list}[{index}].{member}");
}
