using System.Globalization;
using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Machines.Validation.PropertyValues;

namespace QemuTestKit.Machines.Validation.Checks;

/// <summary>
/// Every property value given to a device (and a NIC's MAC) is one QEMU accepts for the property's type as the catalog
/// reports it, so that a wrong value fails the build on the device that has it instead of the machine's first start.
/// Unknown types and properties are left to <see cref="DeviceTypeChecks"/>.
/// </summary>
internal static class PropertyValueChecks
{
    public static void Check(ValidationRun run)
    {
        var targets = LinkTargets.Of(run.Spec, run.Catalog, run.DeviceUses);
        foreach (var use in run.DeviceUses)
        {
            if (run.Catalog.FindDevice(use.Type) is not { } type)
            {
                continue;
            }

            foreach (var (key, value) in use.Properties.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                Judge(run, type, key, value, use.PropertyField(key), targets);
            }
        }

        for (var i = 0; i < run.Spec.Nics.Count; i++)
        {
            if (run.Spec.Nics[i] is { Mac: { } mac } nic && run.Catalog.FindDevice(nic.Model) is { } model)
            {
                Judge(run, model, "mac", mac, string.Create(CultureInfo.InvariantCulture, $"Nics[{i}].Mac"), targets);
            }
        }
    }

    private static void Judge(ValidationRun run, DeviceType device, string key, string value, string field, LinkTargets targets)
    {
        if (device.FindProperty(key) is not { } property
            || PropertyValueType.Of(property, run.Catalog, targets) is not { } valueType
            || valueType.Judge(value) is not { } problem)
        {
            return;
        }

        run.Errors.Add(problem.Code, field, value,
            $"{problem.Problem}: property '{key}' ({property.Type}) of '{device.Name}' takes {valueType.Expected}, such as {valueType.Example}",
            $"{valueType.Expected}, such as {valueType.Example}", problem.Suggestions);
    }
}
