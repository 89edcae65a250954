using System.Globalization;
using QemuTestKit.Machines.Specs;

namespace QemuTestKit.Machines.Validation;

/// <summary>Where a device in the spec came from; decides which type checks apply beyond "is it a device".</summary>
internal enum DeviceRole
{
    Disk,
    Nic,
    Device,
    ExtraArgument,
}

/// <summary>
/// One device the machine will get, whichever part of the spec asked for it, so that type, property and bus checks
/// are written once. Fields are spec paths for messages ("Devices[2].Type", "ExtraArguments[5]").
/// </summary>
internal sealed record DeviceUse(
    DeviceRole Role,
    string TypeField,
    string Type,
    IReadOnlyDictionary<string, string> Properties,
    string PropertyFieldPrefix)
{
    private static readonly IReadOnlyDictionary<string, string> NoProperties = new Dictionary<string, string>();

    public string PropertyField(string key) => PropertyFieldPrefix + key;

    public static IReadOnlyList<DeviceUse> AllOf(MachineSpec spec)
    {
        var uses = new List<DeviceUse>();
        for (var i = 0; i < spec.Disks.Count; i++)
        {
            uses.Add(new(DeviceRole.Disk, Field("Disks", i, "Interface"), spec.Disks[i].Interface, NoProperties, Field("Disks", i, "")));
        }

        for (var i = 0; i < spec.Nics.Count; i++)
        {
            uses.Add(new(DeviceRole.Nic, Field("Nics", i, "Model"), spec.Nics[i].Model, NoProperties, Field("Nics", i, "")));
        }

        for (var i = 0; i < spec.Devices.Count; i++)
        {
            var device = spec.Devices[i];
            uses.Add(new(DeviceRole.Device, Field("Devices", i, "Type"), device.Type, device.Properties ?? NoProperties,
                Field("Devices", i, "Properties.")));
        }

        uses.AddRange(ExtraDeviceArguments.Parse(spec.ExtraArguments).Where(a => a.Use is not null).Select(a => a.Use!));
        return uses;
    }

    private static string Field(string list, int index, string member) =>
        string.Create(CultureInfo.InvariantCulture, $"{list}[{index}]{(member.Length == 0 ? "" : ".")}{member}");
}
