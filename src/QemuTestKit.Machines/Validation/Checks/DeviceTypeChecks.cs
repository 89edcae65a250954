using QemuTestKit.Introspection.Catalog;

namespace QemuTestKit.Machines.Validation.Checks;

/// <summary>Every device the spec asks for (disk interfaces, NIC models, extra devices, -device arguments) is a device
/// type the binary has, fits its role, and is given only properties the type has.</summary>
internal static class DeviceTypeChecks
{
    // Options of -device itself rather than properties of any one type.
    private static readonly string[] GenericOptions = ["bus", "id"];

    public static void Check(ValidationRun run)
    {
        foreach (var malformed in ExtraDeviceArguments.Parse(run.Spec.ExtraArguments).Where(a => a.Problem is not null))
        {
            run.Errors.Add(MachineSpecErrorCodes.MalformedDeviceArgument, malformed.Field, malformed.Text, malformed.Problem!,
                "-device TYPE[,key=value...] or -device {\"driver\":\"TYPE\",...}");
        }

        foreach (var use in run.DeviceUses)
        {
            if (Resolve(run, use) is { } type && FitsRole(run, use, type))
            {
                CheckProperties(run, use, type);
            }
        }
    }

    private static DeviceType? Resolve(ValidationRun run, DeviceUse use)
    {
        var catalog = run.Catalog;
        if (catalog.UnavailableTypes.FirstOrDefault(u => u.Name == use.Type) is { } unavailable)
        {
            run.Errors.Add(MachineSpecErrorCodes.UnavailableDeviceType, use.TypeField, use.Type,
                $"cannot be used with {run.Errors.Emulator}: {unavailable.Reason}", "a device type the binary can describe");
            return null;
        }

        if (catalog.FindDevice(use.Type) is { } type)
        {
            return type;
        }

        var (kind, candidates) = use.Role switch
        {
            DeviceRole.Disk => ("storage device type", catalog.DeviceTypes.Where(IsStorage)),
            DeviceRole.Nic => ("network device type", catalog.DeviceTypes.Where(IsNetwork)),
            _ => ("device type", catalog.DeviceTypes),
        };
        run.Errors.Add(MachineSpecErrorCodes.UnknownDeviceType, use.TypeField, use.Type, $"is not a {kind} of {run.Errors.Emulator}",
            $"a {kind} of {run.Errors.Emulator}", NearMiss.Suggest(use.Type, candidates.Select(d => d.Name)), run.Errors.IntrospectHint);
        return null;
    }

    // A disk needs a device that takes a drive, a NIC one that takes a netdev; anything else would fail at start-up.
    private static bool FitsRole(ValidationRun run, DeviceUse use, DeviceType type)
    {
        if (use.Role == DeviceRole.Disk && !IsStorage(type))
        {
            run.Errors.Add(MachineSpecErrorCodes.NotAStorageDevice, use.TypeField, use.Type,
                "is not a storage device (it has no 'drive' property)", "a device type with a 'drive' property (virtio-blk-pci, ide-hd, scsi-hd, nvme)",
                NearMiss.Suggest(use.Type, run.Catalog.DeviceTypes.Where(IsStorage).Select(d => d.Name)));
            return false;
        }

        if (use.Role == DeviceRole.Nic && !IsNetwork(type))
        {
            run.Errors.Add(MachineSpecErrorCodes.NotANetworkDevice, use.TypeField, use.Type,
                "is not a network device (it has no 'netdev' property)", "a device type with a 'netdev' property (virtio-net-pci, e1000, rtl8139)",
                NearMiss.Suggest(use.Type, run.Catalog.DeviceTypes.Where(IsNetwork).Select(d => d.Name)));
            return false;
        }

        return true;
    }

    private static void CheckProperties(ValidationRun run, DeviceUse use, DeviceType type)
    {
        foreach (var key in use.Properties.Keys.Order(StringComparer.Ordinal))
        {
            if (GenericOptions.Contains(key, StringComparer.Ordinal) || type.FindProperty(key) is not null)
            {
                continue;
            }

            run.Errors.Add(MachineSpecErrorCodes.UnknownDeviceProperty, use.PropertyField(key), key,
                $"is not a property of device type '{type.Name}'", $"a property of '{type.Name}'",
                NearMiss.Suggest(key, type.Properties.Select(p => p.Name).Concat(GenericOptions)),
                $"run 'qemutestkit introspect --qemu {run.Spec.QemuBinary}' to list them, or '{run.Spec.QemuBinary} -device {type.Name},help'");
        }
    }

    private static bool IsStorage(DeviceType type) => type.FindProperty("drive") is not null;

    private static bool IsNetwork(DeviceType type) => type.FindProperty("netdev") is not null;
}
