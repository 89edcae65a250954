using System.Globalization;
using System.Text;
using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Introspection.DeviceTree;

namespace QemuTestKit.Cli.Output;

/// <summary>The human summary of a catalog (and a device tree, drawn like HMP's <c>info qtree</c>).</summary>
internal static class CatalogSummary
{
    private static readonly string[] NotableCpus = ["max", "host", "qemu64", "base"];
    private const int ListedCpus = 6;

    public static string Format(QemuCatalog catalog, MachineDeviceTree? tree)
    {
        var text = new StringBuilder();
        void Line(string line) => text.Append(line).Append('\n');
        var inv = CultureInfo.InvariantCulture;

        var package = string.IsNullOrEmpty(catalog.QemuPackage) ? string.Empty : $" ({catalog.QemuPackage})";
        Line($"QEMU {catalog.QemuVersion}{package}, target {catalog.Target}");
        var source = catalog.Source == CatalogSource.Cache
            ? "from the catalog cache"
            : string.Create(inv, $"asked over QMP in {catalog.ProbeSeconds:0.00} s");
        Line($"binary:       {catalog.Binary} ({source})");

        var defaultMachine = catalog.Machines.FirstOrDefault(m => m.IsDefault);
        var aliases = catalog.Machines.Where(m => m.Alias is not null).Select(m => $"{m.Alias} -> {m.Name}").ToArray();
        var machineNotes = new[] { $"default {defaultMachine?.Name ?? "none"}" }.Concat(aliases.Length > 0 ? [string.Join(", ", aliases)] : []);
        Line(string.Create(inv, $"machines:     {catalog.Machines.Count} ({string.Join("; ", machineNotes)})"));
        Line(string.Create(inv, $"cpus:         {catalog.Cpus.Count}{CpuNotes(catalog)}"));
        Line(string.Create(inv, $"devices:      {catalog.DeviceTypes.Count} described, {catalog.UnavailableTypes.Count} unavailable"));
        foreach (var unavailable in catalog.UnavailableTypes)
        {
            Line($"  unavailable {unavailable.Name}: {FirstLine(unavailable.Reason)}");
        }

        Line($"accelerators: {string.Join(", ", catalog.Accelerators)} (compiled in; usable only where the host allows)");
        var required = catalog.RequiredCommands.Select(c => $"{c.Key} {(c.Value ? "yes" : "NO")}");
        Line($"qmp:          {catalog.QmpCommands.Count} commands, schema sha256 {catalog.QmpSchemaHash[..16]}...");
        Line($"  needed:     {string.Join(", ", required)}");

        if (tree is not null)
        {
            Line(string.Empty);
            Line($"device tree of machine {tree.MachineType}:");
            WriteBus(tree.Root, 1, Line);
            foreach (var device in tree.DevicesWithoutBus)
            {
                Line($"  dev: {Describe(device)} (no bus)");
            }
        }

        return text.ToString();
    }

    // The notable models when the binary has them, else the first few; and where the models came from when not the usual place.
    private static string CpuNotes(QemuCatalog catalog)
    {
        if (catalog.Cpus.Count == 0)
        {
            return " (none listed: a Cpu of a machine is not checked)";
        }

        var notable = NotableCpus.Where(n => catalog.FindCpu(n) is not null).ToArray();
        var named = notable.Length > 0
            ? $"including {string.Join(", ", notable)}"
            : string.Join(", ", catalog.Cpus.Take(ListedCpus).Select(c => c.Name)) + (catalog.Cpus.Count > ListedCpus ? ", ..." : string.Empty);
        var from = catalog.CpusFrom == CpuModelSources.CpuDefinitions ? string.Empty : $"; from {catalog.CpusFrom}, as the binary has no {CpuModelSources.CpuDefinitions}";
        return $" ({named}{from})";
    }

    private static void WriteBus(QomBusNode bus, int depth, Action<string> line)
    {
        var indent = new string(' ', depth * 2);
        line($"{indent}bus: {bus.Name} (type {bus.Type})");
        foreach (var device in bus.Devices)
        {
            line($"{indent}  dev: {Describe(device)}");
            foreach (var child in device.Buses)
            {
                WriteBus(child, depth + 2, line);
            }
        }
    }

    private static string Describe(QomDeviceNode device)
    {
        var id = device.Id is null ? string.Empty : $", id \"{device.Id}\"";
        var address = device.Address is null ? string.Empty : $", addr {device.Address}";
        return $"{device.Type}{id}{address}";
    }

    private static string FirstLine(string text)
    {
        var first = text.Split('\n', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault() ?? text;
        return first.Length > 160 ? first[..160] + "..." : first;
    }
}
