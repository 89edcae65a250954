using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Machines.Specs;

namespace QemuTestKit.Machines.Validation.PropertyValues;

/// <summary>An object a link can name: its id and its QOM type.</summary>
internal sealed record LinkTarget(string Id, string Type);

/// <summary>
/// The objects a link property can name: those the spec declares (<c>-object</c> and <c>-device</c> in extra arguments,
/// devices with an id) and the RAM backend the machine type creates itself. <see cref="Objects"/> is null when the spec
/// can declare objects the validator cannot see (a config file), so that links are not judged at all.
/// </summary>
internal sealed record LinkTargets(IReadOnlyList<LinkTarget>? Objects)
{
    private static readonly HashSet<string> ObjectOptions = new(StringComparer.Ordinal) { "-object", "--object" };

    private static readonly HashSet<string> HiddenSources = new(StringComparer.Ordinal) { "-readconfig", "--readconfig" };

    // What QEMU makes for a machine's default RAM (the id in query-machines' default-ram-id).
    private const string DefaultRamType = "memory-backend-ram";

    public static LinkTargets Of(MachineSpec spec, QemuCatalog catalog, IEnumerable<DeviceUse> devices)
    {
        var arguments = spec.ExtraArguments;
        if (arguments.Any(HiddenSources.Contains))
        {
            return new LinkTargets(Objects: null);
        }

        var objects = new List<LinkTarget>();
        for (var i = 0; i + 1 < arguments.Count; i++)
        {
            if (ObjectOptions.Contains(arguments[i]) && ExtraDeviceArguments.ParseOptions(arguments[i + 1], out _) is { } options
                && options.TryGetValue("id", out var id))
            {
                objects.Add(new(id, options.GetValueOrDefault("driver") ?? options.GetValueOrDefault("qom-type") ?? string.Empty));
            }
        }

        objects.AddRange(spec.Devices.Where(d => d.Id is not null).Select(d => new LinkTarget(d.Id!, d.Type)));
        objects.AddRange(devices.Where(d => d.Role == DeviceRole.ExtraArgument && d.Properties.ContainsKey("id"))
            .Select(d => new LinkTarget(d.Properties["id"], d.Type)));
        if (catalog.FindMachine(spec.MachineType)?.DefaultRamId is { } ram)
        {
            objects.Add(new(ram, DefaultRamType));
        }

        return new LinkTargets(objects);
    }
}
